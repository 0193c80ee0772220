// DynamoDB calls over awsJson. Attribute names in expressions are written `#name` and values `:name`;
// ExpressionAttributeNames and ExpressionAttributeValues are derived from them, so reserved words (status,
// owner, input...) never need manual aliasing, and items go in and come out as plain objects.
import { AwsOptions, awsJson } from './aws';

export type Row = Record<string, unknown>;
/** The attribute types the job table uses: strings, numbers and lists. */
export type AttributeValue = { S: string } | { N: string } | { L: AttributeValue[] };
export type Item = Record<string, AttributeValue>;

const toAttr = (v: any): AttributeValue => (Array.isArray(v) ? { L: v.map(toAttr) } : typeof v == 'number' ? { N: '' + v } : { S: v });
const fromAttr = (a: any): unknown => (a.L ? a.L.map(fromAttr) : a.N ? +a.N : a.S);

/** Plain object of strings, finite numbers and lists of them → DynamoDB item (undefined fields are dropped). */
export const marshall = (row: Row): Item => Object.fromEntries(Object.entries(row).filter((e) => e[1] !== undefined).map(([k, v]) => [k, toAttr(v)]));

export const unmarshall = (item: Item): Row => Object.fromEntries(Object.entries(item).map(([k, v]) => [k, fromAttr(v)]));

export const conditionFailed = (e: any) => e?.code == 'ConditionalCheckFailedException';

export class DynamoTable {
  constructor(
    readonly tableName: string,
    private readonly opts: Pick<AwsOptions, 'endpoint' | 'region'> = {},
  ) {}

  /**
   * One call on this table (PutItem, GetItem, UpdateItem, Query...). `#name`s in its expressions and `values`
   * (keys without the colon) become ExpressionAttributeNames/Values; Item and Key are plain objects. The
   * answer's Item, Attributes and Items come back as plain objects too.
   */
  async call(op: string, req: Row, values?: Row): Promise<any> {
    const names = [...[req.ConditionExpression, req.UpdateExpression, req.KeyConditionExpression].join().matchAll(/#(\w+)/g)];
    const res = await awsJson('dynamodb', op, {
      ...req,
      TableName: this.tableName,
      Item: req.Item && marshall(req.Item as Row),
      Key: req.Key && marshall(req.Key as Row),
      // matchAll entries are [#name, name] pairs; undefined fields vanish from the JSON.
      ExpressionAttributeNames: names[0] && Object.fromEntries(names),
      ExpressionAttributeValues: values && marshall(Object.fromEntries(Object.entries(values).map(([k, v]) => [':' + k, v]))),
    }, this.opts);
    for (const k of ['Item', 'Attributes']) if (res[k]) res[k] = unmarshall(res[k]);
    res.Items &&= res.Items.map(unmarshall);
    return res;
  }
}
