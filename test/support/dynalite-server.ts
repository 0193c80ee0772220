// In-memory dynalite (DynamoDB-compatible) on a free loopback port, spoken to over HTTP with SigV4 like AWS.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { awsJson } from '../../lambda-src/stores/aws';
import { JOB_TABLE_SCHEMA } from '../../lambda-src/stores/prediction-store';

// dynalite ships no type declarations.
const dynalite: (opts: object) => Server = require('dynalite');

export interface DynaliteServer {
  endpoint: string;
  stop(): Promise<void>;
  /** Creates a table with exactly JOB_TABLE_SCHEMA's keys and lease index, and waits until it is ACTIVE. */
  createJobTable(name: string): Promise<void>;
}

/**
 * Starts dynalite. Requests are signed with whatever credentials are in the environment; when none are,
 * dummy ones (and AWS_REGION=us-east-1) are set, since dynalite checks the signature's shape, not its key.
 */
export async function startDynalite(): Promise<DynaliteServer> {
  process.env.AWS_ACCESS_KEY_ID ||= 'AKIDTEST';
  process.env.AWS_SECRET_ACCESS_KEY ||= 'test-secret';
  process.env.AWS_REGION ||= 'us-east-1';
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = (target: string, body: object) => awsJson('dynamodb', target, body, { endpoint });

  async function createJobTable(name: string): Promise<void> {
    const { hashKey, leaseIndex } = JOB_TABLE_SCHEMA;
    await call('CreateTable', {
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: hashKey, AttributeType: 'S' },
        { AttributeName: leaseIndex.hashKey, AttributeType: 'S' },
        { AttributeName: leaseIndex.rangeKey, AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: hashKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: leaseIndex.name,
          KeySchema: [
            { AttributeName: leaseIndex.hashKey, KeyType: 'HASH' },
            { AttributeName: leaseIndex.rangeKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
    // dynalite has no UpdateTimeToLive; the TTL attribute is configured by the Terraform construct.
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
      const { Table } = await call('DescribeTable', { TableName: name });
      if (Table.TableStatus === 'ACTIVE' && Table.GlobalSecondaryIndexes.every((i: any) => i.IndexStatus === 'ACTIVE')) return;
    }
    throw new Error(`table ${name} did not become ACTIVE within 5 s`);
  }

  return {
    endpoint,
    createJobTable,
    stop: () => new Promise<void>((resolve, reject) => server.close((err?: Error) => (err ? reject(err) : resolve()))),
  };
}
