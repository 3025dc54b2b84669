import type { SecretMasker } from '../secrets.js';
import { registerFileSecrets } from './file-secrets.js';
import type { StorageHttp } from './http.js';
import {
  parseFileDetail,
  parsePreparedFile,
  providerBlockPresent,
  StorageResponseError,
} from './parse.js';
import type { FileDetail, PreparedFile, PrepareFileParams, StorageClient } from './types.js';

const STORAGE = '/v2/storage';

/**
 * The file calls of one client: read an exported file, prepare and refresh an upload. Every file
 * answer's credentials are registered with the masker here, once, before the answer is parsed
 * or read by anything else (docs/providers.md, Secrets).
 */
export function createFileCalls(
  http: StorageHttp,
  masker: SecretMasker,
): Pick<StorageClient, 'getFile' | 'prepareFile' | 'refreshFile'> {
  const answer = <T>(raw: unknown, parse: (raw: unknown, what: string) => T, what: string): T => {
    registerFileSecrets(masker, raw);
    return parse(raw, what);
  };

  async function getFile(fileId: number): Promise<FileDetail> {
    const path = `${STORAGE}/files/${fileId}`;
    const raw = await http.request({ method: 'GET', path, params: { federationToken: 1 } });
    const file = answer(raw, parseFileDetail, `GET ${path}`);
    if (!providerBlockPresent(file)) {
      throw new StorageResponseError(
        `File ${fileId} came without ${file.provider} path or credentials (GET ${path}?federationToken=1)`,
      );
    }
    return file;
  }

  async function prepareFile(params: PrepareFileParams): Promise<PreparedFile> {
    const path = `${STORAGE}/files/prepare`;
    const body = {
      name: params.name,
      federationToken: true,
      isEncrypted: true,
      isSliced: params.isSliced,
      ...(params.sizeBytes !== undefined && { sizeBytes: params.sizeBytes }),
      ...(params.tags !== undefined && { tags: params.tags }),
    };
    // Not a job: a duplicated prepare only leaves an unused file record, so it retries as usual.
    const raw = await http.request({ method: 'POST', path, body });
    return answer(raw, parsePreparedFile, `POST ${path}`);
  }

  async function refreshFile(fileId: number): Promise<PreparedFile> {
    const path = `${STORAGE}/files/${fileId}/refresh`;
    const raw = await http.request({ method: 'PUT', path });
    return answer(raw, parsePreparedFile, `PUT ${path}`);
  }

  return { getFile, prepareFile, refreshFile };
}
