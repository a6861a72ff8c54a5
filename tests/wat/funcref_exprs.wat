;; Every constant expression that can put a function into a table (issue 17). Each table holds one
;; function, put there by the form its name says, and $call_* calls through that table only: so
;; $call_* belongs in the list exactly when the form is understood. No table is imported or exported,
;; so nothing else fills them. test_graph.py runs each $call_* on wasmtime (the call of the async
;; import really happens) and checks that `analyze` lists it and `why` explains it.
(module
  (type $i2i (func (param i32) (result i32)))
  (import "env" "sleep_ms" (func $sleep_ms (param i32)))
  ;; the host chooses this one's value: any function it can reach (here the export $host_choice)
  (import "env" "host_ref" (global $host_ref funcref))

  (global $g_direct funcref (ref.func $via_global))     ;; a global initialised by ref.func
  (global $g_inner funcref (ref.func $via_chain))
  (global $g_chain funcref (global.get $g_inner))       ;; ... by global.get of a defined global
  (global $g_host funcref (global.get $host_ref))       ;; ... by global.get of an imported one
  (global $g_passive funcref (ref.func $via_passive))

  (table $t_ref_func 1 funcref)
  (table $t_global 1 funcref)
  (table $t_chain 1 funcref)
  (table $t_host 1 funcref)
  (table $t_host_chain 1 funcref)
  (table $t_null 1 funcref)
  ;; initializer expressions (function references); the table section comes before the global
  ;; section, so a table initializer can read imported globals only
  (table $t_init 1 funcref (ref.func $via_table_init))
  (table $t_init_host 1 funcref (global.get $host_ref))
  (table $t_passive 1 funcref)

  ;; active segments whose items are expressions
  (elem (table $t_ref_func) (i32.const 0) funcref (ref.func $via_ref_func))
  (elem (table $t_global) (i32.const 0) funcref (global.get $g_direct))
  (elem (table $t_chain) (i32.const 0) funcref (global.get $g_chain))
  (elem (table $t_host) (i32.const 0) funcref (global.get $host_ref))
  (elem (table $t_host_chain) (i32.const 0) funcref (global.get $g_host))
  (elem (table $t_null) (i32.const 0) funcref (ref.null func))
  ;; a passive one, copied in by table.init
  (elem $passive funcref (global.get $g_passive))

  (func $via_ref_func (type $i2i) (call $sleep_ms (i32.const 10)) (i32.const 10))
  (func $via_global (type $i2i) (call $sleep_ms (i32.const 11)) (i32.const 11))
  (func $via_chain (type $i2i) (call $sleep_ms (i32.const 12)) (i32.const 12))
  (func $host_choice (export "host_choice") (type $i2i) (call $sleep_ms (i32.const 13)) (i32.const 13))
  (func $via_table_init (type $i2i) (call $sleep_ms (i32.const 14)) (i32.const 14))
  (func $via_passive (type $i2i) (call $sleep_ms (i32.const 15)) (i32.const 15))

  (func $call_ref_func (export "call_ref_func") (param i32) (result i32)
    (call_indirect $t_ref_func (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_global (export "call_global") (param i32) (result i32)
    (call_indirect $t_global (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_chain (export "call_chain") (param i32) (result i32)
    (call_indirect $t_chain (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_host (export "call_host") (param i32) (result i32)
    (call_indirect $t_host (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_host_chain (export "call_host_chain") (param i32) (result i32)
    (call_indirect $t_host_chain (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_null (export "call_null") (param i32) (result i32)
    (call_indirect $t_null (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_init (export "call_init") (param i32) (result i32)
    (call_indirect $t_init (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_init_host (export "call_init_host") (param i32) (result i32)
    (call_indirect $t_init_host (type $i2i) (local.get 0) (i32.const 0)))
  (func $call_passive (export "call_passive") (param i32) (result i32)
    (table.init $t_passive $passive (i32.const 0) (i32.const 0) (i32.const 1))
    (call_indirect $t_passive (type $i2i) (local.get 0) (i32.const 0)))
)
