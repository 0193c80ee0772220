// Prediction jobs on DynamoDB. Every transition is a conditional write; a job is "active" (non-terminal)
// exactly while it carries `active_shard`, which also puts it in the sparse lease index.
import { conditionFailed, DynamoTable, Row } from './dynamodb';

const INDEX = 'active-lease-index';
/** Active jobs spread over this many `active_shard` values, each queried on its own. */
export const SHARDS = 4;

/** The table contract; the Terraform construct creating the table imports it (the attribute names below match). */
export const JOB_TABLE_SCHEMA = {
  hashKey: 'id',
  ttlAttribute: 'expires_at',
  leaseIndex: { name: INDEX, hashKey: 'active_shard', rangeKey: 'lease_expires_at' },
  shards: SHARDS,
} as const;

export type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';

/** A stored job. input/output are JSON text: arbitrary JSON does not always fit DynamoDB types (number range, nesting depth). */
export interface JobRecord {
  id: string;
  model?: string;
  version?: string;
  input: string;
  output?: string;
  error?: string;
  logs?: string;
  status: PredictionStatus;
  created_at: string;
  started_at?: string;
  completed_at?: string;
  webhook?: string;
  webhook_events_filter?: string[];
  /** Instance holding the lease. */
  owner?: string;
  active_shard?: string;
  /** Epoch ms. */
  lease_expires_at: number;
  /** Epoch seconds; DynamoDB TTL deletes the item after it. */
  expires_at?: number;
  /** How many times a worker claimed it. */
  attempt: number;
}

const ACTIVE = 'attribute_exists(#active_shard)';
const OWNED = ACTIVE + ' AND #owner = :owner';

export class PredictionStore {
  constructor(readonly table: DynamoTable) {}

  /** The call's answer, or undefined when its condition does not hold. */
  private call(op: string, req: Row, values?: Row): Promise<any> {
    return this.table.call(op, req, values).catch((e) => (conditionFailed(e) ? undefined : Promise.reject(e)));
  }

  /** SETs the defined fields of `set` (plus `extra`) if `condition` holds; the new job, or undefined. */
  private async write(id: string, set: Row, extra: string, condition: string, values: Row = {}): Promise<JobRecord | undefined> {
    const keys = Object.keys(set).filter((k) => set[k] !== undefined);
    for (const k of keys) values[k] = set[k];
    return (await this.call('UpdateItem', { Key: { id }, UpdateExpression: `SET ${keys.map((k) => `#${k} = :${k}`)} ${extra}`, ConditionExpression: condition, ReturnValues: 'ALL_NEW' }, values))?.Attributes;
  }

  /** false when the id is taken. */
  async create(job: JobRecord): Promise<boolean> {
    return !!(await this.call('PutItem', { Item: job, ConditionExpression: 'attribute_not_exists(#id)' }));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return (await this.table.call('GetItem', { Key: { id }, ConsistentRead: true })).Item;
  }

  /** Takes the lease if this owner holds it or it expired; counts the attempt. */
  claim(id: string, owner: string, leaseMs: number, logs?: string): Promise<JobRecord | undefined> {
    const now = Date.now();
    return this.write(id, { owner, lease_expires_at: now + leaseMs, logs }, 'ADD #attempt :one', ACTIVE + ' AND (#owner = :owner OR #lease_expires_at < :now)', { one: 1, now });
  }

  /** Extends the lease (optionally setting more fields); undefined when canceled or taken over. */
  renew(id: string, owner: string, leaseMs: number, set: Row = {}): Promise<JobRecord | undefined> {
    return this.write(id, { ...set, lease_expires_at: Date.now() + leaseMs }, '', OWNED, { owner });
  }

  /** Terminal write: by the lease owner, or by anyone (cancel) when owner is undefined. */
  finish(id: string, owner: string | undefined, set: Row, retentionSeconds: number): Promise<JobRecord | undefined> {
    return this.write(id, { ...set, expires_at: Math.floor(Date.now() / 1000) + retentionSeconds }, 'REMOVE #active_shard', owner ? OWNED : ACTIVE, owner ? { owner } : {});
  }

  /** Expires the lease now, so any instance picks the job up; the attempt is not held against it. */
  async release(id: string, owner: string): Promise<boolean> {
    return !!(await this.write(id, { lease_expires_at: Date.now() }, 'ADD #attempt :minus', OWNED, { owner, minus: -1 }));
  }

  /**
   * Active jobs of one shard whose lease expired: one page (at most `limit`) of a Query on the sparse index,
   * never a Scan. Claimed jobs leave the result, so the next call sees the ones after them.
   */
  async expired(shard: number, limit: number): Promise<JobRecord[]> {
    return (await this.table.call('Query', { IndexName: INDEX, KeyConditionExpression: '#active_shard = :shard AND #lease_expires_at < :now', Limit: limit }, { shard: '' + shard, now: Date.now() })).Items;
  }
}
