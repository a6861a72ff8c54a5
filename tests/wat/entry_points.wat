;; Where the host can enter a module (issue 13, item 6): exports, the start function, functions the
;; module places in an imported or an exported table, and a function held by an exported global.
;; test_graph.py checks `graph` marks exactly these, and calls each from the host on wasmtime.
(module
  (import "env" "mark" (func $mark (param i32)))
  (import "env" "itable" (table 1 funcref))
  (table $etable (export "etable") 1 funcref)
  (table $private 1 funcref)
  (global (export "gref") funcref (ref.func $in_global))
  (elem (table 0) (i32.const 0) func $in_imported_table)
  (elem (table $etable) (i32.const 0) func $in_exported_table)
  (elem (table $private) (i32.const 0) func $in_private_table)
  (func $main (export "main") (call $mark (i32.const 1)) (call_indirect $private (i32.const 0)))
  (func $in_imported_table (call $mark (i32.const 2)) (call $callee))
  (func $in_exported_table (call $mark (i32.const 3)))
  (func $in_global (call $mark (i32.const 4)))
  (func $in_private_table (call $mark (i32.const 5)))   ;; reached through main's call_indirect only
  (func $callee (call $mark (i32.const 6)))
  (func $never (call $mark (i32.const 7)))              ;; nobody can call it
  (func $init (call $mark (i32.const 8)))
  (start $init)
)
