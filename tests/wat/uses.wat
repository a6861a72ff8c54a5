;; One instruction or type of each class the code scanners note (decode/opcodes.py's U_*; the class a
;; line shows is at its end), for tests/test_accel.py: both scanners must note exactly these, at the
;; same first offsets, and features.py must name the features they need.
(module
  (type $pair (func (param i32) (result i32 i32)))                     ;; a multi-value block type
  (type $v (func))
  (type $s (struct (field i32)))
  (tag $e (param i32))
  (memory $m0 1 1 shared)
  (memory $m1 1)
  (table $t0 2 funcref)
  (table $t1 2 funcref)
  (global $g (mut i32) (i32.add (i32.const 1) (i32.const 2)))          ;; U_EXTENDED_CONST (a global)
  (data $p "passive")                                                   ;; U_PASSIVE_DATA
  (data (memory $m1) (i32.sub (i32.const 8) (i32.const 1)) "one")      ;; U_DATA_MEMORY, U_EXTENDED_CONST
  (elem declare func $callee)

  (func $callee (type $v))
  (func $tail (param i32) (result i32) (return_call $id (local.get 0)))   ;; U_TAIL_CALL
  (func $id (param i32) (result i32) (local.get 0))
  (func $everything (param $x i32) (result i32)
    (local $vec v128)                                                   ;; U_V128
    (local $fr funcref)                                                 ;; U_REFTYPE
    (local $ex exnref)                                                  ;; U_EXNREF
    (local $any anyref)                                                 ;; U_GCREF
    (drop (i32.extend8_s (local.get $x)))                               ;; U_SIGN_EXT
    (drop (i32.trunc_sat_f32_s (f32.const 1)))                          ;; U_SAT_CONV
    (memory.init $m0 $p (i32.const 0) (i32.const 0) (i32.const 0))      ;; U_BULK
    (memory.fill $m0 (i32.const 0) (i32.const 0) (i32.const 0))         ;; U_BULK_OPT
    (drop (table.size $t0))                                             ;; U_TABLE_REF
    (table.fill $t0 (i32.const 0) (ref.null func) (i32.const 0))        ;; U_TABLE_FILL, U_REF
    (i64.add128 (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)) (drop) (drop)  ;; U_WIDE
    (drop (i64x2.extract_lane 0 (i32x4.add (v128.const i32x4 1 2 3 4) (local.get $vec))))  ;; U_SIMD
    (drop (i32x4.relaxed_trunc_f32x4_s (local.get $vec)))               ;; U_RELAXED_SIMD
    (drop (i32.atomic.load $m0 (i32.const 0)))                          ;; U_ATOMICS
    (drop (struct.new $s (i32.const 1)))                                ;; U_GC
    (drop (i32.load $m1 (i32.const 0)))                                 ;; U_MULTI_MEMORY
    (drop (memory.size $m1))                                            ;;   and memory.size
    (call_indirect $t1 (type $v) (i32.const 0))                         ;; U_OTHER_TABLE
    (call_ref $v (ref.as_non_null (ref.func $callee)))                  ;; U_TYPED_REF
    (drop (select (result funcref) (ref.null func) (local.get $fr) (i32.const 1)))  ;; select t
    (drop (ref.null exn))                                               ;; ref.null of exn: U_EXNREF
    (drop (block $b (result i32) (try_table (catch $e $b) (throw $e (i32.const 1))) (i32.const 0)))  ;; U_EXCEPTIONS
    (local.get $x) (block (type $pair) (local.get $x)) (drop) (drop)    ;; U_MULTI_VALUE
    (drop (ref.is_null (local.get $any)))
    (local.get $x))
  (export "everything" (func $everything))
  (export "tail" (func $tail))
)
