export { type AppOptions, createApp, ROUTES } from './app';
export { HttpError } from './http-errors';
