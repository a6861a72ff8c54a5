;; Every proposal current toolchains emit, in one module: the decoder must read all of it, and the
;; call graph must resolve the indirect calls by type and table (expectations in test_graph.py).
(module
  (rec
    (type $node (sub (struct (field $next (mut (ref null $node))) (field $val i32))))
    (type $leaf (sub $node (struct (field $next (mut (ref null $node))) (field $val i32) (field $extra f64)))))
  (type $i2i (func (param i32) (result i32)))
  (type $ii2i (func (param i32 i32) (result i32)))
  (type $v2v (func))
  (type $base (sub (func (param i32) (result i32))))
  (type $derived (sub $base (func (param i32) (result i32))))
  (type $pair (func (result i32 i64)))
  (type $arr (array (mut i8)))
  (import "env" "sleep_ms" (func $sleep_ms (param i32)))
  (import "env" "fetch_value" (func $fetch_value (param i32) (result i32)))
  (import "env" "print_i32" (func $print_i32 (param i32)))
  (import "env" "g_imported" (global $gi i32))
  (memory $mem 1 2 shared)
  (table $t0 4 funcref)
  (table $t1 2 funcref)
  (global $counter (mut i32) (i32.const 0))
  (global $ext i32 (i32.add (global.get $gi) (i32.const 4)))
  (global $fref funcref (ref.func $via_global))
  (tag $exn (param i32))
  (elem (table $t0) (i32.const 0) func $suspends $pure $pair_fn $no_args)
  (elem $passive func $late)
  (elem declare func $derived_impl $base_impl)
  (data (i32.const 16) "hello")
  (data $pd "passive")

  (func $suspends (type $i2i) (call $sleep_ms (local.get 0)) (local.get 0))
  (func $pure (type $i2i) (i32.mul (local.get 0) (i32.const 2)))
  (func $pair_fn (type $ii2i) (call $fetch_value (local.get 0)))
  (func $no_args (type $v2v) (call $sleep_ms (i32.const 1)))
  (func $late (type $i2i) (call $fetch_value (local.get 0)))
  (func $via_global (type $i2i) (call $fetch_value (local.get 0)))
  (func $base_impl (type $base) (local.get 0))
  (func $derived_impl (type $derived) (call $sleep_ms (local.get 0)) (local.get 0))
  (func $never_referenced (type $i2i) (call $sleep_ms (local.get 0)) (local.get 0))

  ;; call_indirect of (i32)->i32 on table 0: reaches $suspends and $pure, not $pair_fn/$no_args.
  (func $dispatch_i2i (export "dispatch") (param i32 i32) (result i32)
    (call_indirect $t0 (type $i2i) (local.get 1) (local.get 0)))
  ;; call_indirect of ()->() on table 0: reaches $no_args only.
  (func $dispatch_v2v (param i32) (call_indirect $t0 (type $v2v) (local.get 0)))
  ;; table 1 is filled by table.init from the passive segment: reaches $late.
  (func $dispatch_t1 (param i32) (result i32)
    (table.init $t1 $passive (i32.const 0) (i32.const 0) (i32.const 1))
    (call_indirect $t1 (type $i2i) (i32.const 5) (local.get 0)))
  ;; call_ref of $base: reaches address-taken functions of $base or its subtype $derived.
  (func $via_ref (param i32) (result i32)
    (call_ref $base (local.get 0) (ref.func $derived_impl)))
  (func $tail (param i32) (result i32) (return_call $suspends (local.get 0)))
  (func $tail_indirect (param i32) (result i32)
    (return_call_indirect $t0 (type $i2i) (local.get 0) (i32.const 1)))
  (func $multi (type $pair) (i32.const 1) (i64.const 2))
  (func $legacy_eh (param i32) (result i32)
    try (result i32)
      local.get 0
      call $pure
    catch $exn
    catch_all
      i32.const -1
    end)
  (func $legacy_delegate (param i32)
    try $t
      try
        call $no_args
      delegate $t
    catch_all
    end)
  (func $new_eh (param i32) (result i32)
    (drop (block $h (result i32)
      (try_table (result i32) (catch $exn $h)
        (call $pure (local.get 0)))
      (return)))
    (drop (block $hr (result exnref) (try_table (catch_all_ref $hr) (call $no_args)) (return (i32.const 1))))
    (i32.const 0))
  (func $simd (param i32) (result i32)
    local.get 0
    v128.const i32x4 1 2 3 4
    v128.const i64x2 0 0
    i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
    v128.load8_lane 3
    local.get 0
    v128.load offset=16
    i32x4.add
    i32x4.extract_lane 2)
  (func $atomics (param i32) (result i32)
    (drop (memory.atomic.notify (local.get 0) (i32.const 1)))
    (atomic.fence)
    (i32.atomic.rmw.add (local.get 0) (i32.const 1)))
  (func $bulk (param i32)
    (memory.init $pd (local.get 0) (i32.const 0) (i32.const 3))
    (data.drop $pd)
    (memory.copy (local.get 0) (i32.const 0) (i32.const 4))
    (memory.fill (local.get 0) (i32.const 0) (i32.const 4))
    (table.copy $t0 $t0 (i32.const 0) (i32.const 1) (i32.const 1))
    (drop (table.grow $t1 (ref.null func) (i32.const 1)))
    (drop (table.size $t0))
    (elem.drop $passive))
  (func $gc (param i32) (result i32)
    (local $n (ref null $node))
    (local.set $n (struct.new $leaf (ref.null $node) (local.get 0) (f64.const 1.5)))
    (drop (ref.test (ref $leaf) (local.get $n)))
    (drop (array.new_default $arr (i32.const 4)))
    (block $b (result (ref $node))
      (br_on_cast $b (ref null $node) (ref $node) (local.get $n))
      (drop) (unreachable))
    (struct.get $node $val)
    (i31.get_s (ref.i31 (i32.const 7)))
    (i32.add))
  (func $globals (result i32)
    (global.set $counter (i32.add (global.get $counter) (global.get $ext)))
    (call_ref $i2i (i32.const 3) (ref.cast (ref $i2i) (global.get $fref))))
  (func $select_t (param i32) (result i32)
    (select (result i32) (i32.const 1) (i32.const 2) (local.get 0)))
  (func $br_table (param i32) (result i32)
    (block (block (block (br_table 0 1 2 (local.get 0))) (return (i32.const 1))) (return (i32.const 2)))
    (i32.const 3))
  (func $run (export "run") (result i32)
    (drop (call $dispatch_i2i (i32.const 0) (i32.const 7)))
    (call $dispatch_v2v (i32.const 3))
    (drop (call $dispatch_t1 (i32.const 0)))
    (drop (call $via_ref (i32.const 1)))
    (call $print_i32 (call $pure (i32.const 21)))
    (i32.const 42))
  (export "table" (table $t1))
  (start $start)
  (func $start (global.set $counter (i32.const 1)))
)
