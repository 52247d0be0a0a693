import crypto from 'node:crypto';

/**
 * A minimal S3 client for the stack's object store: AWS Signature Version 4 (header-based, the
 * payload hashed in one chunk) over fetch, path-style URLs. Enough for tests and `npm run dev` to
 * create a bucket, put, list and delete objects without pulling in an SDK.
 */

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface SignInput {
  method: string;
  /** Host header as sent (`host:port` for a non-default port). */
  host: string;
  /** The path, not yet encoded: `/bucket/key`. */
  path: string;
  query?: Record<string, string>;
  /** Further headers to sign (lower-case names). */
  headers?: Record<string, string>;
  /** Hex SHA-256 of the body. */
  payloadHash: string;
  date: Date;
  credentials: S3Credentials;
}

const sha256 = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
export function uriEncode(value: string, keepSlash = false): string {
  const encoded = encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded;
}

export function canonicalQuery(query: Record<string, string> = {}): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(query[k]!)}`)
    .join('&');
}

/** The headers to send, Authorization included, for one request. */
export function signRequest(input: SignInput): Record<string, string> {
  const amzDate = input.date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v.trim()])),
    host: input.host,
    'x-amz-content-sha256': input.payloadHash,
    'x-amz-date': amzDate,
  };
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    uriEncode(input.path, true),
    canonicalQuery(input.query),
    names.map((n) => `${n}:${headers[n]}\n`).join(''),
    signedHeaders,
    input.payloadHash,
  ].join('\n');
  const scope = `${day}/${input.credentials.region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${input.credentials.secretAccessKey}`, day);
  for (const part of [input.credentials.region, 's3', 'aws4_request']) key = hmac(key, part);
  const signature = crypto.createHmac('sha256', key).update(stringToSign).digest('hex');
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope},` +
    `SignedHeaders=${signedHeaders},Signature=${signature}`;
  return headers;
}

export interface S3Response {
  status: number;
  /** The body as text (XML for errors and listings). */
  body: string;
  bytes: Buffer;
}

export interface S3Object {
  key: string;
  size: number;
  lastModified: string;
}

export class S3Client {
  constructor(
    /** `http://host:port` */
    readonly endpoint: string,
    private readonly credentials: S3Credentials,
  ) {}

  async request(
    method: string,
    path: string,
    opts: { query?: Record<string, string>; body?: Buffer; timeoutMs?: number } = {},
  ): Promise<S3Response> {
    const url = new URL(this.endpoint);
    const body = opts.body ?? Buffer.alloc(0);
    const headers = signRequest({
      method,
      host: url.host,
      path,
      query: opts.query,
      payloadHash: sha256(body),
      date: new Date(),
      credentials: this.credentials,
    });
    delete headers.host; // fetch sets it (and refuses to be told)
    const query = canonicalQuery(opts.query);
    const res = await fetch(`${url.origin}${uriEncode(path, true)}${query ? `?${query}` : ''}`, {
      method,
      headers,
      body: method === 'GET' || method === 'HEAD' ? undefined : body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    return { status: res.status, body: bytes.toString('utf8'), bytes };
  }

  private async ok(method: string, path: string, opts: Parameters<S3Client['request']>[2] = {}) {
    const res = await this.request(method, path, opts);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`S3 ${method} ${path}: HTTP ${res.status}: ${res.body.slice(0, 500)}`);
    }
    return res;
  }

  /** Creates the bucket; one that exists already and is ours is fine. */
  async createBucket(bucket: string): Promise<void> {
    const res = await this.request('PUT', `/${bucket}`);
    if (res.status === 409 && res.body.includes('BucketAlreadyOwnedByYou')) return;
    if (res.status !== 200) throw new Error(`S3 create bucket ${bucket}: HTTP ${res.status}: ${res.body}`);
  }

  async putObject(bucket: string, key: string, body: Buffer): Promise<void> {
    await this.ok('PUT', `/${bucket}/${key}`, { body });
  }

  async getObject(bucket: string, key: string): Promise<Buffer> {
    return (await this.ok('GET', `/${bucket}/${key}`, { timeoutMs: 30_000 })).bytes;
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    await this.ok('DELETE', `/${bucket}/${key}`);
  }

  /** ListObjectsV2 under a prefix (up to 1000 keys: enough for a test bucket). */
  async listObjects(bucket: string, prefix = ''): Promise<S3Object[]> {
    const res = await this.ok('GET', `/${bucket}`, { query: { 'list-type': '2', prefix } });
    return [...res.body.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)].map(([, item]) => ({
      key: xmlUnescape(tag(item!, 'Key')),
      size: Number(tag(item!, 'Size')),
      lastModified: tag(item!, 'LastModified'),
    }));
  }
}

function tag(xml: string, name: string): string {
  return new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1] ?? '';
}

function xmlUnescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
