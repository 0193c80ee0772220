import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** EC2 rejects user data above this many bytes before base64 encoding. */
export const USER_DATA_LIMIT_BYTES = 16_384;

export interface UserDataOptions {
  /**
   * Gzip the document. cloud-init detects and decompresses gzip user data, so a large script or
   * bundle costs its compressed size against the 16 KB limit.
   * @default true
   */
  readonly gzip?: boolean;
}

/** User data for a launch template or instance: the exact bytes EC2 stores, checked against EC2's limit. */
export class UserData {
  /** A shell script run once at first boot by cloud-init. */
  static forShellScript(script: string, options: UserDataOptions = {}): UserData {
    const body = script.startsWith('#!') ? script : `#!/bin/bash\n${script}`;
    return new UserData(Buffer.from(body.endsWith('\n') ? body : `${body}\n`, 'utf8'), options);
  }

  /** Any document cloud-init accepts (cloud-config, MIME multipart, a script). */
  static custom(document: string | Buffer, options: UserDataOptions = {}): UserData {
    return new UserData(Buffer.isBuffer(document) ? document : Buffer.from(document, 'utf8'), options);
  }

  /** The document before compression. */
  readonly document: Buffer;
  /** The bytes EC2 receives (after optional gzip, before base64): what the 16 KB limit applies to. */
  readonly raw: Buffer;

  protected constructor(document: Buffer, options: UserDataOptions) {
    const token = /\$\{TfToken\[[^\]]*\]\}/.exec(document.toString('utf8'));
    if (token) {
      throw new Error(
        `User data contains the unresolved Terraform reference ${token[0]}: its bytes are fixed at synth (and gzip-compressed), ` +
          'so Terraform cannot fill it in. Pass a literal, or have the instance read the value at boot (e.g. from an SSM parameter).',
      );
    }
    this.document = document;
    // mtime 0 and no file name keep the gzip bytes identical across synths, so an unchanged handler never rolls the fleet.
    this.raw = options.gzip ?? true ? gzipSync(document, { level: 9 }) : document;
    if (this.raw !== document) this.raw[9] = 3; // gzip's OS byte differs by build platform; pin it to Unix
  }

  get rawBytes(): number {
    return this.raw.length;
  }

  /** The launch template's `user_data` field takes base64. */
  get base64(): string {
    return this.raw.toString('base64');
  }

  get sha256(): string {
    return createHash('sha256').update(this.raw).digest('hex');
  }

  /** Throws when EC2 would reject the user data; the message names both numbers. */
  assertWithinLimit(where: string): void {
    if (this.rawBytes > USER_DATA_LIMIT_BYTES) {
      throw new Error(
        `${where}: user data is ${this.rawBytes} bytes (after gzip, before base64), over EC2's limit of ${USER_DATA_LIMIT_BYTES} bytes ` +
          `by ${this.rawBytes - USER_DATA_LIMIT_BYTES}. Shrink the handler bundle or deliver it from S3 (InferenceEndpoint handler: { delivery: 's3' }).`,
      );
    }
  }
}
