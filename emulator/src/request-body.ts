/**
 * A request body read whole, with a cap: the Storage API's bodies and the object stores' small
 * XML and JSON bodies share this one reader, each with its own cap and its own error.
 */

/**
 * The body as UTF-8 text.
 * @throws the error `tooLarge` makes once more than `limitBytes` bytes have arrived
 */
export async function readCappedBody(
  req: AsyncIterable<Buffer>,
  limitBytes: number,
  tooLarge: () => Error,
): Promise<string> {
  const chunks: Buffer[] = [];
  let sizeBytes = 0;
  for await (const chunk of req) {
    sizeBytes += chunk.length;
    if (sizeBytes > limitBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
