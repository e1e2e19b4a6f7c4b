export * from './claim-plan';
export * from './codec';
export * from './cursor';
export * from './ports';
export * from './update-run';
