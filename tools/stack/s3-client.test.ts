import { canonicalQuery, signRequest, uriEncode } from './s3-client';

// The worked examples of AWS's "Signature Calculations for the Authorization Header: Transferring
// Payload in a Single Chunk" (Amazon S3 API reference): a signer that reproduces them is one S3
// servers accept.
const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
};
const date = new Date('2013-05-24T00:00:00Z');
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('S3 SigV4 signer', () => {
  it('signs a GET of an object with a Range header as the AWS example does', () => {
    const headers = signRequest({
      method: 'GET',
      host: 'examplebucket.s3.amazonaws.com',
      path: '/test.txt',
      headers: { Range: 'bytes=0-9' },
      payloadHash: EMPTY,
      date,
      credentials,
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(headers['x-amz-date']).toBe('20130524T000000Z');
  });

  it('signs a listing with a query string as the AWS example does', () => {
    const headers = signRequest({
      method: 'GET',
      host: 'examplebucket.s3.amazonaws.com',
      path: '/',
      query: { prefix: 'J', 'max-keys': '2' },
      payloadHash: EMPTY,
      date,
      credentials,
    });
    expect(headers.authorization).toContain(
      'Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
    );
  });

  it('encodes keys and query values as SigV4 wants (RFC 3986, slashes kept in paths only)', () => {
    expect(uriEncode('/db/a b+c(1)*.sql.gz', true)).toBe('/db/a%20b%2Bc%281%29%2A.sql.gz');
    expect(uriEncode('a/b')).toBe('a%2Fb');
    expect(canonicalQuery({ prefix: 'db/x y', 'list-type': '2' })).toBe('list-type=2&prefix=db%2Fx%20y');
  });
});
