// Public API. Each construct lives in its own file; import from here or per file.
export * from './errors';
export * from './security-group';
export * from './instance-role';
export * from './secret';
export * from './network';
export * from './user-data';
export * from './handler-bundle';
export * from './handler-user-data';
export * from './instance-types';
export * from './api-fleet';
export * from './load-balancer';
export * from './response-cache';
export * from './job-table';
export * from './metrics-database';
export * from './inference-endpoint';
export * from './policy';
