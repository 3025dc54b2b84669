import { S3Client } from '@aws-sdk/client-s3';

/**
 * The official S3 client pointed at the emulator with the federation credentials of a file
 * detail (`credentials`), path-style. aws-chunked bodies with trailing checksums are not emulated
 * (see the README), so checksums are only computed where the API requires them.
 */
export function s3ClientFor(endpoint: string, credentials: Record<string, unknown>): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: {
      accessKeyId: String(credentials.AccessKeyId),
      secretAccessKey: String(credentials.SecretAccessKey),
      sessionToken: String(credentials.SessionToken),
    },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
