import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { StorageClient } from '../storage/types.js';
import { checkSourceToken, explainRejectedToken, type SourceAuthorization } from './check-token.js';

/**
 * Verifies the source token and applies the token rules (docs/architecture.md, Pipeline), logging the warnings.
 * @throws UserError naming what is wrong with the token
 */
export async function authorizeSource(
  source: StorageClient,
  config: Pick<Config, 'source'>,
  nowMs: number,
  logger: Logger,
): Promise<SourceAuthorization> {
  const token = await source.verifyToken().catch((error: unknown) => {
    throw explainRejectedToken(error, 'source', config.source.url);
  });
  const auth = checkSourceToken(token, {
    nowMs,
    ...(config.source.region ? { configuredRegion: config.source.region } : {}),
  });
  for (const warning of auth.warnings) logger.warn(warning);
  logger.info(
    `Source project "${auth.projectName}" (${auth.projectId}), bucket "${auth.bucketId}", read-only token.`,
  );
  return auth;
}
