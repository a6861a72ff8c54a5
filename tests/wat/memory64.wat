;; memory64: memarg offsets are u64, limits are u64; the decoder must take both.
(module
  (import "env" "sleep_ms" (func $sleep_ms (param i32)))
  (memory i64 1)
  (func $load (param i64) (result i32) (i32.load offset=4294967296 (local.get 0)))
  (func $run (export "run") (result i32) (call $sleep_ms (i32.const 1)) (call $load (i64.const 0)))
)
