;; CSV record counting with WebAssembly SIMD: the kernel behind CsvRecordCounter (csv-records.ts).
;; Compiled into csv-records-wasm.ts by `npm run build:wasm`; a unit test checks the two agree.
;;
;; count(end, inside) scans memory[0, end), `end` a multiple of 64 (the caller zero-pads: a zero
;; byte is neither a quote nor a newline). `inside` is 1 when the scan starts inside a quoted
;; value. It returns the newlines outside quoted values and leaves insideAtEnd() for the next call.
;;
;; Per 64-byte block: bit masks of quotes and newlines (i8x16.eq + bitmask). The prefix XOR of the
;; quote mask has bit i set when byte i is inside quotes (an escaped quote "" toggles twice, so it
;; changes nothing); XOR with the carried state continues it across blocks.
(module
  (memory (export "memory") 2)
  (global $insideAtEnd (mut i32) (i32.const 0))

  ;; 64-bit mask of the bytes at [p, p + 64) equal to the splatted byte c.
  (func $mask (param $p i32) (param $c v128) (result i64)
    (i64.or
      (i64.or
        (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (v128.load offset=0 (local.get $p)) (local.get $c))))
        (i64.shl (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (v128.load offset=16 (local.get $p)) (local.get $c)))) (i64.const 16)))
      (i64.or
        (i64.shl (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (v128.load offset=32 (local.get $p)) (local.get $c)))) (i64.const 32))
        (i64.shl (i64.extend_i32_u (i8x16.bitmask (i8x16.eq (v128.load offset=48 (local.get $p)) (local.get $c)))) (i64.const 48)))))

  (func (export "count") (param $end i32) (param $inside i32) (result i32)
    (local $p i32) (local $n i64) (local $x i64) (local $in i64) (local $quote v128) (local $newline v128)
    (local.set $quote (i8x16.splat (i32.const 0x22)))
    (local.set $newline (i8x16.splat (i32.const 0x0a)))
    ;; all ones when inside quotes, else zero
    (local.set $in (i64.sub (i64.const 0) (i64.extend_i32_u (local.get $inside))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $x (call $mask (local.get $p) (local.get $quote)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 1))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 2))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 4))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 8))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 16))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 32))))
        (local.set $x (i64.xor (local.get $x) (local.get $in)))
        (local.set $n
          (i64.add (local.get $n)
            (i64.popcnt
              (i64.and (call $mask (local.get $p) (local.get $newline)) (i64.xor (local.get $x) (i64.const -1))))))
        ;; arithmetic shift: the last byte's state spread over all 64 bits
        (local.set $in (i64.shr_s (local.get $x) (i64.const 63)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $blocks)))
    (global.set $insideAtEnd (i32.wrap_i64 (i64.and (local.get $in) (i64.const 1))))
    (i32.wrap_i64 (local.get $n)))

  (func (export "insideAtEnd") (result i32) (global.get $insideAtEnd)))
