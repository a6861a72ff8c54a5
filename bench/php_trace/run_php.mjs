// PHP doing network I/O the ways PHP code does it, against a local HTTP server on loopback.
// Usage: node [--experimental-wasm-jspi] run_php.mjs [SCRIPT_NAME ...]   (default: all)
// Needs @php-wasm/node (and @php-wasm/universal) resolvable from the current directory.
import http from "node:http";
import net from "node:net";
import { createRequire } from "node:module";
const require = createRequire(process.cwd() + "/");
const { PHP } = await import(require.resolve("@php-wasm/universal"));
const { loadNodeRuntime } = await import(require.resolve("@php-wasm/node"));

const SCRIPTS = {
  file_get_contents: `echo file_get_contents("@URL@/a");`,
  fopen_stream: `$f = fopen("@URL@/b", "r"); echo fread($f, 100); fclose($f);`,
  curl: `$c = curl_init("@URL@/c"); curl_setopt($c, CURLOPT_RETURNTRANSFER, true); echo curl_exec($c);`,
  stream_socket_client: `$s = stream_socket_client("tcp://@HOSTPORT@"); fwrite($s, "GET /d HTTP/1.0\\r\\n\\r\\n"); echo stream_get_contents($s);`,
  call_user_func: `echo call_user_func("file_get_contents", "@URL@/e");`,
  array_map: `echo implode(",", array_map(fn($p) => file_get_contents("@URL@/$p"), ["f1", "f2"]));`,
  destructor: `class D { function __destruct() { echo file_get_contents("@URL@/g"); } } $d = new D; unset($d);`,
  generator: `function g() { yield file_get_contents("@URL@/h"); } foreach (g() as $v) echo $v;`,
  magic_get: `class M { function __get($n) { return file_get_contents("@URL@/$n"); } } echo (new M)->i;`,
  array_access: `class A implements ArrayAccess { function offsetGet($o): mixed { return file_get_contents("@URL@/$o"); }
    function offsetExists($o): bool { return true; } function offsetSet($o, $v): void {} function offsetUnset($o): void {} }
    echo (new A)["j"];`,
  reflection: `$m = new ReflectionFunction("file_get_contents"); echo $m->invoke("@URL@/k");`,
  include: `file_put_contents("/tmp/inc.php", '<?php return file_get_contents("@URL@/l");'); echo include "/tmp/inc.php";`,
};

const server = http.createServer((req, res) => res.end("ok" + req.url + "\n"));
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;
const URL_ = `http://127.0.0.1:${port}`;
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SCRIPTS);
let failed = 0;
for (const name of names) {
  const php = new PHP(await loadNodeRuntime("8.3", { emscriptenOptions: { processId: 1 } }));
  const code = "<?php " + SCRIPTS[name].replaceAll("@URL@", URL_).replaceAll("@HOSTPORT@", `127.0.0.1:${port}`);
  try {
    const out = await php.runStream({ code });
    const text = (await out.stdoutText).trim();
    console.log(`${name}: ${JSON.stringify(text.slice(0, 80))}`);
    if (!text.includes("ok/")) failed++;
  } catch (err) {
    failed++;
    console.log(`${name}: CRASH ${err && err.message}`);
    console.log(err && err.stack);
  }
}
server.close();
process.exit(failed ? 1 : 0);
