export { type AppOptions, createApp, ROUTES } from './app';
export { STATUS_BY_CODE } from './http-errors';
