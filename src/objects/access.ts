import type { SecretMasker } from '../secrets.js';
import { registerQuery } from '../storage/file-secrets.js';
import type { FileDetail, PreparedFile } from '../storage/types.js';
import { azureAccess, parseSasConnectionString } from './azure.js';
import { gcsAccess } from './gcs.js';
import type { ObjectHttp } from './object-http.js';
import type { ProviderAccess } from './provider.js';
import { s3Access } from './s3.js';
import type { ObjectStoreEndpoints } from './types.js';

/** Provider access for reading an exported file with its federation credentials. */
export function readAccessFor(
  file: FileDetail,
  endpoints: ObjectStoreEndpoints,
  masker: SecretMasker,
  http: ObjectHttp,
): ProviderAccess {
  switch (file.provider) {
    case 'aws': {
      if (!file.s3Path || !file.credentials) throw missing(file.id, 's3Path/credentials');
      masker.add(file.credentials.SecretAccessKey);
      masker.add(file.credentials.SessionToken);
      const params = {
        bucket: file.s3Path.bucket,
        region: file.region,
        credentials: file.credentials,
      };
      return s3Access(params, endpoints.s3, http);
    }
    case 'azure': {
      if (!file.absPath || !file.absCredentials) throw missing(file.id, 'absPath/absCredentials');
      const connection = sasConnection(file.absCredentials.SASConnectionString, masker);
      return azureAccess(connection, file.absPath.container, http);
    }
    case 'gcp': {
      const credentials = file.gcsCredentials;
      if (!file.gcsPath || !credentials) throw missing(file.id, 'gcsPath/gcsCredentials');
      masker.add(credentials.access_token);
      return gcsAccess(file.gcsPath.bucket, () => credentials.access_token, endpoints.gcs, http);
    }
  }
}

/** Provider access for uploading into a prepared file (GCS token read at each request). */
export function writeAccessFor(
  prepared: () => PreparedFile,
  endpoints: ObjectStoreEndpoints,
  masker: SecretMasker,
  http: ObjectHttp,
): ProviderAccess {
  const file = prepared();
  switch (file.provider) {
    case 'aws': {
      const params = file.uploadParams;
      if (!params) throw missing(file.id, 'uploadParams');
      masker.add(params.credentials.SecretAccessKey);
      masker.add(params.credentials.SessionToken);
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
      if (!params) throw missing(file.id, 'absUploadParams');
      const connection = sasConnection(params.absCredentials.SASConnectionString, masker);
      return azureAccess(connection, params.container, http);
    }
    case 'gcp': {
      const params = file.gcsUploadParams;
      if (!params) throw missing(file.id, 'gcsUploadParams');
      const token = () => {
        const current = prepared().gcsUploadParams?.access_token ?? params.access_token;
        masker.add(current);
        return current;
      };
      return gcsAccess(params.bucket, token, endpoints.gcs, http);
    }
  }
}

function sasConnection(connectionString: string, masker: SecretMasker) {
  masker.add(connectionString);
  const connection = parseSasConnectionString(connectionString);
  registerQuery(masker, connection.sas);
  return connection;
}

function missing(fileId: number, what: string): Error {
  return new Error(`File ${fileId} came without ${what}; cannot transfer it`);
}
