/** The part of gelf-pro (no published types) that src/log/gelf-output.ts uses. */
declare module 'gelf-pro' {
  export interface GelfAdapter {
    setOptions(options: Readonly<Record<string, unknown>>): GelfAdapter;
    send(message: string, callback: (error: Error | null, bytes?: number) => void): GelfAdapter;
  }
  export interface Gelf {
    adapter: GelfAdapter | undefined;
    setConfig(config: Readonly<Record<string, unknown>>): Gelf;
    message(
      shortMessage: string,
      level: number,
      extra: Readonly<Record<string, unknown>>,
      callback: (error: Error | null, bytes?: number) => void,
    ): void;
  }
  const gelf: Gelf;
  export default gelf;
}
