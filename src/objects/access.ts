import type { FileDetail, PreparedFile } from '../storage/types.js';
import { azureAccess, parseSasConnectionString } from './azure.js';
import { gcsAccess } from './gcs.js';
import { missingBlock } from './manifest.js';
import type { ObjectHttp } from './object-http.js';
import type { ProviderAccess } from './provider.js';
import { s3Access } from './s3.js';
import type { ObjectStoreEndpoints } from './types.js';

/**
 * Provider access for reading an exported file with its federation credentials. The caller has
 * registered the credentials as secrets (`registerFileSecrets`).
 */
export function readAccessFor(
  file: FileDetail,
  endpoints: ObjectStoreEndpoints,
  http: ObjectHttp,
): ProviderAccess {
  switch (file.provider) {
    case 'aws': {
      if (!file.s3Path || !file.credentials) throw missingBlock(file.id, 's3Path/credentials');
      const params = {
        bucket: file.s3Path.bucket,
        region: file.region,
        credentials: file.credentials,
      };
      return s3Access(params, endpoints.s3, http);
    }
    case 'azure': {
      if (!file.absPath || !file.absCredentials)
        throw missingBlock(file.id, 'absPath/absCredentials');
      const connection = parseSasConnectionString(file.absCredentials.SASConnectionString);
      return azureAccess(connection, file.absPath.container, http);
    }
    case 'gcp': {
      const credentials = file.gcsCredentials;
      if (!file.gcsPath || !credentials) throw missingBlock(file.id, 'gcsPath/gcsCredentials');
      return gcsAccess(file.gcsPath.bucket, () => credentials.access_token, endpoints.gcs, http);
    }
  }
}

/** Provider access for uploading into a prepared file (GCS token read at each request). */
export function writeAccessFor(
  prepared: () => PreparedFile,
  endpoints: ObjectStoreEndpoints,
  http: ObjectHttp,
): ProviderAccess {
  const file = prepared();
  switch (file.provider) {
    case 'aws': {
      const params = file.uploadParams;
      if (!params) throw missingBlock(file.id, 'uploadParams');
      return s3Access(
        {
          bucket: params.bucket,
          region: file.region,
          credentials: params.credentials,
          acl: params.acl,
          serverSideEncryption: params['x-amz-server-side-encryption'],
        },
        endpoints.s3,
        http,
      );
    }
    case 'azure': {
      const params = file.absUploadParams;
      if (!params) throw missingBlock(file.id, 'absUploadParams');
      const connection = parseSasConnectionString(params.absCredentials.SASConnectionString);
      return azureAccess(connection, params.container, http);
    }
    case 'gcp': {
      const params = file.gcsUploadParams;
      if (!params) throw missingBlock(file.id, 'gcsUploadParams');
      const token = () => prepared().gcsUploadParams?.access_token ?? params.access_token;
      return gcsAccess(params.bucket, token, endpoints.gcs, http);
    }
  }
}
