export * from './claim-plan';
export * from './cursor';
export * from './ports';
export * from './update-run';
