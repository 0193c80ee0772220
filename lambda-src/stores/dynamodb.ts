// Typed DynamoDB helpers over awsJson. Attribute names in expressions are written `#name` and values
// `:name`; ExpressionAttributeNames and ExpressionAttributeValues are derived from them, so reserved
// words (status, owner, input...) never need manual aliasing.
import { AwsError, AwsOptions, awsJson } from './aws';

export type AttributeValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { M: Record<string, AttributeValue> }
  | { L: AttributeValue[] };
export type Item = Record<string, AttributeValue>;
export type Row = Record<string, unknown>;

function toAttr(v: unknown, path: string): AttributeValue {
  if (v === null || v === undefined) return { NULL: true };
  if (typeof v === 'string') return { S: v };
  if (typeof v === 'boolean') return { BOOL: v };
  if (typeof v === 'number' && Number.isFinite(v)) return { N: String(v) };
  if (Array.isArray(v)) return { L: v.map((x, i) => toAttr(x, `${path}[${i}]`)) };
  if (typeof v === 'object') return { M: marshall(v as Row, path) };
  throw new TypeError(`${path || 'value'}: cannot store ${typeof v} ${String(v)} in DynamoDB`);
}

/** Plain object → DynamoDB item (undefined fields are dropped, nested objects become M). */
export function marshall(obj: Row, path = ''): Item {
  const item: Item = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) item[k] = toAttr(v, path ? `${path}.${k}` : k);
  return item;
}

function fromAttr(a: AttributeValue): unknown {
  const [type, v] = Object.entries(a)[0] as [string, any];
  if (type === 'S' || type === 'BOOL') return v;
  if (type === 'N') return Number(v);
  if (type === 'NULL') return null;
  if (type === 'M') return unmarshall(v);
  if (type === 'L') return v.map(fromAttr);
  throw new TypeError(`unsupported DynamoDB attribute type ${type}`);
}

export function unmarshall(item: Item): Row {
  const row: Row = {};
  for (const [k, v] of Object.entries(item)) row[k] = fromAttr(v);
  return row;
}

export const conditionFailed = (e: unknown) => e instanceof AwsError && e.code === 'ConditionalCheckFailedException';

export interface Expr {
  condition?: string;
  values?: Row;
}

export interface QueryOptions {
  values: Row;
  index?: string;
  limit?: number;
}

export class DynamoTable {
  constructor(
    readonly tableName: string,
    private readonly opts: Pick<AwsOptions, 'endpoint' | 'region'> = {},
  ) {}

  private call(op: string, req: Row, exprs: (string | undefined)[], values?: Row): Promise<any> {
    const names: Record<string, string> = {};
    for (const e of exprs) for (const m of (e ?? '').matchAll(/#(\w+)/g)) names[m[0]] = m[1];
    const body: Row = { TableName: this.tableName, ...req };
    if (Object.keys(names).length) body.ExpressionAttributeNames = names;
    if (values && Object.keys(values).length) {
      body.ExpressionAttributeValues = marshall(Object.fromEntries(Object.entries(values).map(([k, v]) => [':' + k, v])));
    }
    return awsJson('dynamodb', op, body, this.opts);
  }

  async put(item: Row, e: Expr = {}): Promise<void> {
    await this.call('PutItem', { Item: marshall(item), ConditionExpression: e.condition }, [e.condition], e.values);
  }

  async get(key: Row): Promise<Row | undefined> {
    const res = await this.call('GetItem', { Key: marshall(key), ConsistentRead: true }, []);
    return res.Item && unmarshall(res.Item);
  }

  /** Applies an UpdateExpression and returns the whole new item. */
  async update(key: Row, update: string, e: Expr = {}): Promise<Row> {
    const req = { Key: marshall(key), UpdateExpression: update, ConditionExpression: e.condition, ReturnValues: 'ALL_NEW' };
    return unmarshall((await this.call('UpdateItem', req, [update, e.condition], e.values)).Attributes);
  }

  /** Follows pagination until `limit` rows (or all of them) are read. */
  async query(keyCondition: string, q: QueryOptions): Promise<Row[]> {
    const rows: Row[] = [];
    let start: Item | undefined;
    do {
      const req = { KeyConditionExpression: keyCondition, IndexName: q.index, Limit: q.limit && q.limit - rows.length, ExclusiveStartKey: start };
      const res = await this.call('Query', req, [keyCondition], q.values);
      rows.push(...res.Items.map(unmarshall));
      start = res.LastEvaluatedKey;
    } while (start && !(q.limit && rows.length >= q.limit));
    return rows;
  }
}
