import { regionForUrl } from '../config/regions.js';
import type { Config, ProjectEndpoint } from '../config/types.js';
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
  const configuredRegion = configuredRegionOf(config.source);
  const auth = checkSourceToken(token, { nowMs, ...(configuredRegion && { configuredRegion }) });
  for (const warning of auth.warnings) logger.warn(warning);
  logger.info(
    `Source project "${auth.projectName}" (${auth.projectId}), bucket "${auth.bucketId}", read-only token.`,
  );
  return auth;
}

/**
 * The region the configuration points at: `region` when given, else the multi-tenant region whose
 * stack `url` is, so a project of another region is warned about either way; undefined for a
 * single-tenant stack or an emulator.
 */
export function configuredRegionOf(
  source: Pick<ProjectEndpoint, 'region' | 'url'>,
): string | undefined {
  return source.region ?? regionForUrl(source.url)?.id;
}
