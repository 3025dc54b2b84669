/** What a test asks the emulator about a token string, as any client would. */

/** The token's id by `tokens/verify` at `url`, or the status when it does not work. */
export async function verifiedTokenId(url: string, tokenString: string): Promise<string | number> {
  const response = await fetch(`${url}/v2/storage/tokens/verify`, {
    headers: { 'X-StorageApi-Token': tokenString },
  });
  if (response.status !== 200) return response.status;
  return String(((await response.json()) as { id: string | number }).id);
}
