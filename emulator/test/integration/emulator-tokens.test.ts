/**
 * The emulator's token endpoints follow the real API's rules (docs/tokens.md): who may list, see,
 * create, refresh, delete and read events, and what each master role gets.
 */
import { describe, expect, it } from 'vitest';
import type { SeedInput } from '../../src/seed.js';
import { useEmulator } from '../helpers/emulator.js';

const T = {
  admin: '101-1101-5ea1e5f0c0ffee00000000000000000000001101',
  share: '101-1102-5ea1e5f0c0ffee00000000000000000000001102',
  guest: '101-1103-5ea1e5f0c0ffee00000000000000000000001103',
  readOnly: '101-1104-5ea1e5f0c0ffee00000000000000000000001104',
  read: '101-1001-5ea1e5f0c0ffee00000000000000000000000001',
  other: '101-1002-5ea1e5f0c0ffee00000000000000000000000002',
} as const;

const seed: SeedInput = {
  projects: [
    {
      id: 101,
      name: 'Sales',
      buckets: [
        { id: 'in.c-sales', tables: [] },
        { id: 'in.c-other', tables: [] },
      ],
      tokens: [
        { token: T.read, description: 'reader', bucketPermissions: { 'in.c-sales': 'read' } },
        { token: T.other, description: 'other', bucketPermissions: { 'in.c-other': 'read' } },
        { token: T.admin, isMasterToken: true, role: 'admin', description: 'admin' },
        { token: T.share, isMasterToken: true, role: 'share', description: 'share' },
        { token: T.guest, isMasterToken: true, role: 'guest', description: 'guest' },
        { token: T.readOnly, isMasterToken: true, role: 'readOnly', description: 'readOnly' },
      ],
    },
  ],
};

const emulator = useEmulator(seed);

async function call(
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${emulator.url}/v2/storage${path}`, {
    method,
    headers: {
      'X-StorageApi-Token': token,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

const idOf = (token: string) => token.split('-')[1] ?? '';
const createBody = {
  description: 'made',
  bucketPermissions: { 'in.c-sales': 'read' },
  canManageBuckets: true,
  expiresIn: 3600,
};

describe('emulator token endpoints', () => {
  it('list: every token for admin/share masters, only itself for anyone else', async () => {
    const all = await call(T.admin, 'GET', '/tokens');
    expect(all.status).toBe(200);
    expect((all.body as { id: string }[]).map((t) => t.id)).toEqual(
      expect.arrayContaining(['1001', '1002', '1101', '1104']),
    );
    for (const token of [T.read, T.guest, T.readOnly]) {
      const own = await call(token, 'GET', '/tokens');
      expect((own.body as { id: string }[]).map((t) => t.id)).toEqual([idOf(token)]);
    }
    expect(JSON.stringify(all.body)).not.toContain(T.read);
  });

  it('detail and events: itself always, another token only with canManageTokens (else 403)', async () => {
    expect((await call(T.read, 'GET', `/tokens/${idOf(T.read)}`)).status).toBe(200);
    expect(await call(T.read, 'GET', `/tokens/${idOf(T.other)}`)).toMatchObject({
      status: 403,
      body: { code: 'accessDenied' },
    });
    expect((await call(T.share, 'GET', `/tokens/${idOf(T.other)}`)).status).toBe(200);
    const events = await call(T.read, 'GET', `/tokens/${idOf(T.read)}/events?limit=1`);
    expect(events.body).toEqual([expect.objectContaining({ event: 'storage.tokenCreated' })]);
    expect((await call(T.read, 'GET', `/tokens/${idOf(T.other)}/events`)).status).toBe(403);
    expect((await call(T.readOnly, 'GET', `/tokens/${idOf(T.read)}/events`)).status).toBe(403);
  });

  it('create: 201 for admin/share with every option, guest keeps only description and expiry', async () => {
    const made = await call(T.admin, 'POST', '/tokens', createBody);
    expect(made).toMatchObject({
      status: 201,
      body: {
        description: 'made',
        canManageBuckets: true,
        isMasterToken: false,
        creatorToken: { id: 1101 },
      },
    });
    expect((made.body as { token: string }).token).toMatch(/^101-\d+-[0-9a-f]{40}$/);
    const firstEvent = await call(
      (made.body as { token: string }).token,
      'GET',
      `/tokens/${(made.body as { id: string }).id}/events`,
    );
    expect(firstEvent.body).toEqual([expect.objectContaining({ event: 'storage.tokenCreated' })]);
    const guest = await call(T.guest, 'POST', '/tokens', createBody);
    expect(guest).toMatchObject({
      status: 201,
      body: { description: 'made', canManageBuckets: false, bucketPermissions: [] },
    });
    expect((guest.body as { expires: string | null }).expires).not.toBeNull();
  });

  it('create: 403 for read-only masters and limited tokens; 400 for unknown buckets and bad expiry', async () => {
    for (const token of [T.readOnly, T.read]) {
      expect(await call(token, 'POST', '/tokens', createBody)).toMatchObject({
        status: 403,
        body: { code: 'accessDenied' },
      });
    }
    const unknown = await call(T.admin, 'POST', '/tokens', {
      bucketPermissions: { 'in.c-nope': 'read' },
    });
    expect(unknown).toMatchObject({
      status: 400,
      body: { code: 'storage.tokens.invalidPermissions' },
    });
    const manage = await call(T.admin, 'POST', '/tokens', {
      bucketPermissions: { 'in.c-sales': 'manage' },
    });
    expect(manage.status).toBe(400);
    expect((await call(T.admin, 'POST', '/tokens', { expiresIn: 0 })).body).toMatchObject({
      error: 'Minimal expiration must be greater or equal to 1 second(s)',
    });
  });

  it('verify: a read-only master shows read on every bucket, an admin master manage', async () => {
    expect((await call(T.readOnly, 'GET', '/tokens/verify')).body).toMatchObject({
      isMasterToken: true,
      canManageTokens: false,
      canManageBuckets: false,
      admin: { role: 'readOnly' },
      bucketPermissions: { 'in.c-sales': 'read', 'in.c-other': 'read' },
    });
    expect((await call(T.admin, 'GET', '/tokens/verify')).body).toMatchObject({
      canManageTokens: true,
      admin: { role: 'admin' },
      bucketPermissions: { 'in.c-sales': 'manage' },
    });
  });

  it('verify, detail and list: componentAccess and the newer flags as the token has them; an empty list and unset newer flags left out', async () => {
    const wide = emulator.control.createToken(101, {
      bucketPermissions: { 'in.c-sales': 'read' },
      componentAccess: ['keboola.ex-db-mysql'],
      canCreateJobs: true,
      canManageDevBranches: true,
      canReadAllProjectEvents: false,
    });
    const granted = {
      componentAccess: ['keboola.ex-db-mysql'],
      canCreateJobs: true,
      canManageDevBranches: true,
      canReadAllProjectEvents: false,
    };
    expect((await call(wide, 'GET', '/tokens/verify')).body).toMatchObject(granted);
    expect((await call(wide, 'GET', `/tokens/${idOf(wide)}`)).body).toMatchObject(granted);
    expect((await call(wide, 'GET', '/tokens')).body).toMatchObject([granted]);

    const plain = (await call(T.read, 'GET', '/tokens/verify')).body as Record<string, unknown>;
    expect(plain.canCreateJobs).toBe(false);
    for (const absent of ['componentAccess', 'canManageDevBranches', 'canReadAllProjectEvents']) {
      expect(plain).not.toHaveProperty(absent);
    }
  });

  it('refuses a seed token whose componentAccess is not a list of component ids', () => {
    expect(() =>
      emulator.control.createToken(101, {
        componentAccess: 'keboola.ex-db-mysql' as unknown as string[],
      }),
    ).toThrow(/componentAccess/);
  });

  it('refresh: itself (old string 401 at once, same id), others only with canManageTokens', async () => {
    const own = emulator.control.createToken(101, { bucketPermissions: { 'in.c-sales': 'read' } });
    const refreshed = await call(own, 'POST', `/tokens/${idOf(own)}/refresh`);
    expect(refreshed).toMatchObject({ status: 200, body: { id: idOf(own) } });
    const fresh = (refreshed.body as { token: string }).token;
    expect(fresh).not.toBe(own);
    expect((await call(own, 'GET', '/tokens/verify')).status).toBe(401);
    expect((await call(fresh, 'GET', '/tokens/verify')).status).toBe(200);
    expect((await call(fresh, 'GET', `/tokens/${idOf(own)}/events?limit=1`)).body).toEqual([
      expect.objectContaining({ event: 'storage.tokenRefreshed' }),
    ]);
    expect((await call(T.readOnly, 'POST', `/tokens/${idOf(fresh)}/refresh`)).status).toBe(403);
    expect((await call(T.read, 'POST', `/tokens/${idOf(fresh)}/refresh`)).status).toBe(403);
    expect((await call(T.admin, 'POST', `/tokens/${idOf(fresh)}/refresh`)).status).toBe(200);
    expect((await call(fresh, 'GET', '/tokens/verify')).status).toBe(401);
  });

  it('delete: a limited token deletes itself (204), not others; master tokens cannot be deleted', async () => {
    const own = emulator.control.createToken(101, { bucketPermissions: { 'in.c-sales': 'read' } });
    expect((await call(T.read, 'DELETE', `/tokens/${idOf(own)}`)).status).toBe(403);
    expect(await call(own, 'DELETE', `/tokens/${idOf(own)}`)).toEqual({ status: 204, body: null });
    expect((await call(own, 'GET', '/tokens/verify')).status).toBe(401);
    expect((await call(T.admin, 'DELETE', `/tokens/${idOf(T.share)}`)).status).toBe(400);
    expect((await call(T.admin, 'GET', `/tokens/${idOf(own)}`)).status).toBe(404);
  });
});
