/**
 * The typed HTTP client for gyoza: `GyozaClient` (every route, `followEvents`, `waitForRun`),
 * `resolveConfig` and `readLocalApiKey` (server URL and key from options, environment or the
 * local key file), the errors it throws (`GyozaApiError`, `GyozaConnectionError`, `GyozaAnswerError`,
 * `GyozaWaitTimeoutError`), the wire types (`RunJson`, `WorkerOpRun`, ...), `parseSse` and
 * `verifyWebhook` (checks a webhook's Standard Webhooks signature).
 */
export {
  type ClaimOptions,
  type CreateRunOptions,
  type FollowOptions,
  GyozaClient,
  isRunFinal,
  type WaitOptions,
} from './client';
export {
  DEFAULT_SERVER_URL,
  type GyozaClientOptions,
  LOCAL_API_KEY_FILE,
  type ResolvedConfig,
  readLocalApiKey,
  resolveConfig,
} from './config';
export {
  type ApiErrorDetail,
  GyozaAnswerError,
  GyozaApiError,
  GyozaConfigError,
  GyozaConnectionError,
  GyozaWaitTimeoutError,
} from './errors';
export { parseSse, type SseMessage } from './sse';
export type { SearchRunsFilter, StatsJson, ThroughputBucketJson, ThroughputJson } from './stats';
export * from './types';
export {
  type DeliveryJson,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookMessage,
  WebhookVerificationError,
} from './webhooks';
