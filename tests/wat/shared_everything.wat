;; Shared-everything threads: shared function/struct/array types, shared globals and tables, the
;; atomics on them (expectations in test_graph.py). A shared table cannot serve call_indirect
;; (wasm-tools 1.262: only tables of type <= funcref can), so shared code calls through call_ref of
;; what table.get returns; a shared and an unshared type with the same signature differ.
(module
  (type $sf (shared (func (param i32) (result i32))))
  (type $uf (func (param i32) (result i32)))
  (type $sv (shared (func (param i32))))
  (type $ss (shared (struct (field (mut i32)))))
  (type $sa (shared (array (mut i32))))
  (import "env" "sleep_ms" (func $sleep_ms (type $sv)))
  (import "env" "fetch_value" (func $fetch_value (param i32) (result i32)))
  (import "env" "shared_table" (table $it shared 1 (ref null (shared func))))
  (import "env" "shared_global" (global $ig (shared i32)))
  (table $st shared 4 (ref null (shared func)))
  (table $ut 2 funcref)
  (table $sany shared 1 (ref null (shared any)))
  (global $sg (shared mut i32) (i32.const 0))
  (global $sr (shared (ref null (shared func))) (ref.null (shared func)))
  (elem (table $st) (i32.const 0) (ref null (shared func)) (ref.func $s_suspends) (ref.func $s_pure) (ref.func $s_void))
  (elem (table $ut) (i32.const 0) func $u_same)
  (elem declare (ref null (shared func)) (ref.func $s_late))

  (func $s_suspends (type $sf) (call $sleep_ms (local.get 0)) (local.get 0))
  (func $s_pure (type $sf) (i32.mul (local.get 0) (i32.const 2)))
  (func $s_void (type $sv) (call $sleep_ms (local.get 0)))
  (func $s_late (type $sf) (call $sleep_ms (local.get 0)) (local.get 0))
  (func $u_same (type $uf) (call $fetch_value (local.get 0)))

  ;; call_ref of the shared type: the address-taken functions of that type, $s_suspends, $s_pure and
  ;; $s_late; never $u_same (unshared type, same signature) nor $s_void.
  (func $s_dispatch (type $sf)
    (table.set $st (i32.const 3) (ref.func $s_late))
    (call_ref $sf (local.get 0) (ref.cast (ref $sf) (table.get $st (local.get 0)))))
  ;; the unshared type on the unshared table: $u_same only.
  (func $u_dispatch (type $uf) (call_indirect $ut (type $uf) (local.get 0) (local.get 0)))
  (func $atomics (type $sv)
    (global.atomic.set seqcst $sg (global.atomic.get acqrel $sg))
    (drop (global.atomic.rmw.add seqcst $sg (global.get $ig)))
    (drop (table.atomic.get seqcst $sany (local.get 0)))
    (table.atomic.set acqrel $sany (i32.const 0) (ref.null (shared any)))
    (drop (struct.atomic.get acqrel $ss 0 (struct.new $ss (local.get 0))))
    (drop (array.atomic.rmw.xchg seqcst $sa (array.new $sa (i32.const 0) (i32.const 1)) (i32.const 0) (i32.const 7)))
    (drop (ref.i31_shared (local.get 0))))
  (func (export "run") (type $uf)
    (i32.add (call $u_dispatch (local.get 0)) (i32.const 1)))
  (export "shared_dispatch" (func $s_dispatch))
  (export "atomics" (func $atomics))
)
