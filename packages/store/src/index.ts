export * from './ports';
export * from './update-run';
