// The part of the WebAssembly global that csv-records.ts uses. Node has had it since v8, but
// @types/node 20 does not declare it and lib "dom" would bring the whole browser along.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, unknown>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  function validate(bytes: Uint8Array): boolean;
}
