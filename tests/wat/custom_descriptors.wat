;; Custom descriptors and exact types: a class-like object whose descriptor holds its method (the
;; proposal's motivating use), the descriptor instructions, exact references in signatures and an
;; exact function import. Expectations in test_graph.py: exactness is part of a type's identity, so a
;; call of $take_exact never reaches $take_inexact and the reverse.
(module
  (rec
    (type $method (func (param i32) (result i32)))
    (type $obj (sub (descriptor $vtable) (struct (field i32))))
    (type $vtable (sub (describes $obj) (struct (field (ref $method))))))
  (type $take_exact (func (param (ref null (exact $obj))) (result i32)))
  (type $take_inexact (func (param (ref null $obj)) (result i32)))
  (type $v2v (func))
  (import "env" "sleep_ms" (func $sleep_ms (param i32)))
  (import "env" "fetch_value" (func $fetch_value (exact (type $method))))
  (global $vt (ref (exact $vtable)) (struct.new $vtable (ref.func $method_sleeps)))
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $exact_user $inexact_user)
  (elem declare func $method_pure)

  (func $method_sleeps (type $method) (call $sleep_ms (local.get 0)) (local.get 0))
  (func $method_pure (type $method) (local.get 0))
  (func $exact_user (type $take_exact) (call $fetch_value (i32.const 1)))
  (func $inexact_user (type $take_inexact) (i32.const 0))

  ;; a method call: the descriptor of the object, its method field, call_ref of $method —
  ;; every address-taken $method: $method_sleeps (held by the descriptor global) and $method_pure.
  (func $call_method (param $o (ref $obj)) (result i32)
    (call_ref $method (struct.get $obj 0 (local.get $o))
      (struct.get $vtable 0 (ref.get_desc $obj (local.get $o)))))
  (func $make (result (ref (exact $obj)))
    (struct.new_desc $obj (i32.const 7) (global.get $vt)))
  (func $casts (param $o (ref null $obj)) (result i32)
    (drop (ref.cast_desc_eq (ref null $obj) (local.get $o) (global.get $vt)))
    (drop (ref.test (ref (exact $obj)) (local.get $o)))
    (drop (block $l (result (ref null $obj))
      (br_on_cast_desc_eq $l (ref null $obj) (ref null $obj) (local.get $o) (global.get $vt))
      (drop) (ref.null $obj)))
    (drop (block $m (result anyref)
      (br_on_cast_desc_eq_fail $m anyref (ref $obj) (local.get $o) (global.get $vt))
      (drop) (ref.null any)))
    (drop (struct.new_default_desc $obj (global.get $vt)))
    (i32.const 0))
  ;; call_indirect of each exact/inexact type: only the table entry of exactly that type.
  (func $dispatch_exact (param i32) (result i32)
    (call_indirect $t (type $take_exact) (ref.null none) (local.get 0)))
  (func $dispatch_inexact (param i32) (result i32)
    (call_indirect $t (type $take_inexact) (ref.null none) (local.get 0)))
  (func (export "run") (param i32) (result i32)
    (i32.add (call $call_method (call $make))
      (i32.add (call $dispatch_exact (local.get 0)) (call $dispatch_inexact (i32.const 1)))))
)
