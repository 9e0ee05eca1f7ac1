-- yaml: plain scalars resolved as kubectl reads manifests, multi-document
-- streams, anchors and merge keys, kubectl-style output, located errors,
-- and round trips of the upstream fixtures (YAML -> YAML, YAML -> JSON -> YAML).

local yaml = require "yaml"
local json = require "json"

local codec = require "tests.spec.support.codec"
local helpers = require "tests.spec.support.helpers"

local FIXTURES = helpers.fixtures()
local fixture_files, kind, canonical = codec.fixture_files, codec.kind, codec.canonical
local read = helpers.read_file

local function value_of(text)
  return yaml.decode("v: " .. text).v
end

local function decode_error(text, options)
  local ok, err = pcall(yaml.decode_all, text, options)
  assert.is_false(ok)
  assert.are.equal("yaml", err.kind)
  return err
end

describe("yaml plain scalar resolution (as kubectl reads manifests)", function()
  local T, F = true, false
  local cases = {
    -- booleans: YAML 1.1 words, in three spellings each
    {"yes", T}, {"Yes", T}, {"YES", T}, {"y", T}, {"Y", T}, {"on", T}, {"On", T}, {"ON", T},
    {"true", T}, {"True", T}, {"TRUE", T},
    {"no", F}, {"No", F}, {"NO", F}, {"n", F}, {"N", F}, {"off", F}, {"Off", F}, {"OFF", F},
    {"false", F}, {"False", F}, {"FALSE", F},
    {"tRue", "tRue"}, {"nO", "nO"}, {"yES", "yES"},
    -- null
    {"~", yaml.null}, {"null", yaml.null}, {"Null", yaml.null}, {"NULL", yaml.null}, {"", yaml.null},
    {"nULL", "nULL"},
    -- integers: Go's ParseInt with base prefixes, '_' dropped
    {"0", 0}, {"-0", 0}, {"+12", 12}, {"0755", 493}, {"00", 0}, {"0x1F", 31}, {"0X1f", 31},
    {"-0x1F", -31}, {"0o17", 15}, {"0b101", 5}, {"-0b101", -5}, {"1_000", 1000}, {"0x_1F", 31},
    {"9223372036854775807", math.maxinteger}, {"-9223372036854775808", math.mininteger},
    -- floats
    {"1e3", 1000.0}, {"1E3", 1000.0}, {"1e+3", 1000.0}, {"1.5e3", 1500.0}, {".5", 0.5}, {"-.5", -0.5},
    {"5.", 5.0}, {"1.10", 1.1}, {"08", 8.0}, {"1_000.5", 1000.5},
    {"9223372036854775808", 9223372036854775808.0}, {"18446744073709551615", 18446744073709551615.0},
    {"99999999999999999999", 1e20}, {".inf", math.huge}, {".Inf", math.huge}, {"+.inf", math.huge},
    {"-.inf", -math.huge}, {"-.INF", -math.huge},
    -- strings
    {"0x", "0x"}, {"1:20", "1:20"}, {"1e309", "1e309"}, {"1.2.3", "1.2.3"}, {"inf", "inf"},
    {"NaN", "NaN"}, {".nAn", ".nAn"}, {"2001-12-14", "2001-12-14"},
    {"2001-12-14T21:59:43.10Z", "2001-12-14T21:59:43.10Z"}, {"0x1FFFFFFFFFFFFFFFF", "0x1FFFFFFFFFFFFFFFF"},
    {"12abc", "12abc"}, {"_1", "_1"}, {"e3", "e3"}, {"+", "+"}, {"0x1.8p1", "0x1.8p1"},
    -- quoting and tags
    {'"yes"', "yes"}, {"'123'", "123"}, {'""', ""}, {"!!str 123", "123"}, {"!!str yes", "yes"},
    {'!!int "42"', 42}, {"!!float 1", 1.0}, {"!!bool yes", T}, {'!!null ""', yaml.null},
    {"!!binary aGVsbG8=", "hello"}, {"!local 12", "12"}, {"! 12", "12"},
    {"!!int 18446744073709551615", 18446744073709551615.0},
  }
  for _, case in ipairs(cases) do
    local text, expected = case[1], case[2]
    it(string.format("reads %q as %s %s", text, math.type(expected) or type(expected), tostring(expected)), function()
      local v = value_of(text)
      assert.are.equal(expected, v)
      assert.are.equal(math.type(expected), math.type(v))
      assert.are.equal(type(expected), type(v))
    end)
  end

  it("reads .nan as NaN", function()
    local v = value_of(".nan")
    assert.is_true(v ~= v)
    assert.are.equal("float", math.type(v))
  end)

  it("refuses a value its core tag does not allow", function()
    local err = decode_error("a: !!int abc\n")
    assert.are.equal(1, err.line)
    assert.are.equal(4, err.column)
    assert.truthy(err.message:find("!!int", 1, true))
    err = decode_error("a: !!bool maybe\n")
    assert.truthy(err.message:find("!!bool", 1, true))
    err = decode_error("a: !!binary '@@@'\n")
    assert.truthy(err.message:find("base64", 1, true))
  end)

  it("turns mapping keys into strings as kubectl does", function()
    local v = yaml.decode("1: a\ntrue: b\n1.5: c\n0x10: d\ny: e\n'2': f\n")
    assert.are.same({["1"] = "a", ["true"] = "e", ["1.5"] = "c", ["16"] = "d", ["2"] = "f"}, v)
    assert.are.equal("object", kind(v))
    local err = decode_error("~: x\n")
    assert.truthy(err.message:find("null", 1, true))
    err = decode_error("? [a]\n: b\n")
    assert.are.equal(1, err.line)
    assert.are.equal(3, err.column)
  end)

  it("takes a float key beyond float range as infinite, without crashing", function()
    assert.are.same({[".inf"] = "x"}, yaml.decode("1e39: x\n"))
    assert.are.same({[".inf"] = "x"}, yaml.decode("1e300: x\n"))
    assert.are.same({["-.inf"] = "x"}, yaml.decode("-1e300: x\n"))
    assert.are.same({[".inf"] = "x"}, yaml.decode("3.5e38: x\n"))
    assert.are.same({[".inf"] = "x"}, yaml.decode("!!float 1e39: x\n"))
    assert.are.same({["3.4028235e+38"] = "x"}, yaml.decode("3.4028235e38: x\n"))
  end)
end)

describe("yaml.encode", function()
  it("quotes exactly the strings that would read back as something else", function()
    assert.are.equal('v: "yes"\n', yaml.encode({v = "yes"}))
    assert.are.equal('v: "0755"\n', yaml.encode({v = "0755"}))
    assert.are.equal('v: ""\n', yaml.encode({v = ""}))
    assert.are.equal('v: "null"\n', yaml.encode({v = "null"}))
    assert.are.equal('v: "1e3"\n', yaml.encode({v = "1e3"}))
    assert.are.equal('v: "2001-12-14"\n', yaml.encode({v = "2001-12-14"}))
    assert.are.equal('v: "1:20"\n', yaml.encode({v = "1:20"}))
    assert.are.equal("v: plain text\n", yaml.encode({v = "plain text"}))
    assert.are.equal("v: tRue\n", yaml.encode({v = "tRue"}))
    assert.are.equal("v: 'a: b'\n", yaml.encode({v = "a: b"}))
    assert.are.equal('"n": 1\n', yaml.encode({n = 1}))
  end)

  it("round-trips strings of every awkward kind", function()
    local strings = {
      "yes", "no", "on", "off", "y", "n", "Y", "true", "False", "null", "Null", "~", "", "123", "-1",
      "+1", "0755", "0x1F", "0o17", "0b101", "1e3", "1E3", ".5", "5.", "1_000", "08", "1:20",
      "2001-12-14", "2001-12-14T21:59:43Z", "<<", ".inf", "-.inf", ".nan", "9223372036854775808",
      "a: b", "a #b", "#c", "- x", "-", "?", "? x", ":", "::", "x:", " lead", "trail ", "  ",
      "multi\nline", "multi\nline\n", "\n", "\n\n", "trailing\n\n", "  indented\nblock", "tab\tx",
      'quote"s', "'single'", "it's", "@at", "`tick", "%pct", "!bang", "&amp", "*star", "[x]",
      "{x}", "x,y", "|", ">", "---", "...", "--- x", "a\r\nb", "line \nspace", "ünïcode ✓",
      "😀", "\0nul", "\x7f", "bell\7", "\xE2\x80\xA8", "\xEF\xBB\xBFbom", "\xFF\xFEbinary",
      string.rep("long words ", 40), string.rep("x", 300),
    }
    for _, s in ipairs(strings) do
      local text = yaml.encode({v = s, [s] = "key"})
      local back = yaml.decode(text)
      assert.are.equal(s, back.v)
      assert.are.equal("key", back[s])
      assert.are.equal(s, yaml.decode(yaml.encode(s)))
    end
  end)

  it("writes bytes that are not UTF-8 as !!binary", function()
    assert.are.equal("v: !!binary //4=\n", yaml.encode({v = "\xFF\xFE"}))
  end)

  it("writes block style the way kubectl get -o yaml does", function()
    local pod = {
      apiVersion = "v1",
      kind = "Pod",
      metadata = {name = "web", labels = {app = "web", ["app.kubernetes.io/part-of"] = "shop"}},
      spec = {
        containers = {
          {name = "app", image = "podinfo:6.0.0", args = {"--port", "9898"},
           ports = {{containerPort = 9898, protocol = "TCP"}}, env = json.array()},
        },
        nodeSelector = json.object(),
        replicas = 2,
        ratio = 0.5,
        note = "first line\nsecond line\n",
        paused = false,
        owner = json.null,
      },
    }
    local expected = table.concat({
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  labels:",
      "    app: web",
      "    app.kubernetes.io/part-of: shop",
      "  name: web",
      "spec:",
      "  containers:",
      "  - args:",
      "    - --port",
      '    - "9898"',
      "    env: []",
      "    image: podinfo:6.0.0",
      "    name: app",
      "    ports:",
      "    - containerPort: 9898",
      "      protocol: TCP",
      "  nodeSelector: {}",
      "  note: |",
      "    first line",
      "    second line",
      "  owner: null",
      "  paused: false",
      "  ratio: 0.5",
      "  replicas: 2",
      "",
    }, "\n")
    assert.are.equal(expected, yaml.encode(pod))
    assert.are.equal(canonical(yaml.decode(expected)), canonical(yaml.decode(yaml.encode(yaml.decode(expected)))))
  end)

  it("orders keys as kubectl does: digit runs as numbers, letters after the rest", function()
    local text = yaml.encode({b10 = 1, b9 = 2, a = 3, _x = 4, A = 5, ["a-b"] = 6, ab = 7, ["1"] = 8})
    assert.are.equal('_x: 4\n"1": 8\nA: 5\na: 3\na-b: 6\nab: 7\nb9: 2\nb10: 1\n', text)
  end)

  it("folds long strings at 80 columns like kubectl unless told", function()
    local long = string.rep("word ", 30) .. "end"
    local folded = yaml.encode({d = long})
    assert.is_true(select(2, folded:gsub("\n", "")) > 1)
    assert.are.equal(long, yaml.decode(folded).d)
    assert.are.equal("d: " .. long .. "\n", yaml.encode({d = long}, {width = -1}))
  end)

  it("writes numbers so they read back with the same subtype", function()
    assert.are.equal("a: 1000.0\nb: 1000\nc: 1e+20\nd: .inf\ne: -.inf\nf: 0.1\n",
      yaml.encode({a = 1000.0, b = 1000, c = 1e20, d = math.huge, e = -math.huge, f = 0.1}))
    local v = yaml.decode(yaml.encode({math.maxinteger, math.mininteger, 9007199254740993, 1.0, 0.1 + 0.2}))
    assert.are.equal(math.maxinteger, v[1])
    assert.are.equal(math.mininteger, v[2])
    assert.are.equal(9007199254740993, v[3])
    assert.are.equal("float", math.type(v[4]))
    assert.are.equal(0.1 + 0.2, v[5])
    local nan = yaml.decode(yaml.encode({x = 0 / 0})).x
    assert.is_true(nan ~= nan)
  end)

  it("writes scalars and empty collections at the top level", function()
    assert.are.equal("abc\n", yaml.encode("abc"))
    assert.are.equal("42\n", yaml.encode(42))
    assert.are.equal("null\n", yaml.encode(yaml.null))
    assert.are.equal("{}\n", yaml.encode({}))
    assert.are.equal("[]\n", yaml.encode(yaml.array()))
  end)

  it("refuses what no document can hold, naming where it is", function()
    local ok, err = pcall(yaml.encode, {spec = {hooks = {print}}})
    assert.is_false(ok)
    assert.are.equal("$.spec.hooks[1]", err.path)
    assert.are.equal("yaml", err.kind)
    ok, err = pcall(yaml.encode, {[{}] = 1})
    assert.is_false(ok)
    assert.truthy(err.message:find("table key", 1, true))
    local t = {}
    t.self = {t}
    ok, err = pcall(yaml.encode, t)
    assert.is_false(ok)
    assert.are.equal("$.self[1]", err.path)
    assert.truthy(err.message:find("cycle", 1, true))
  end)
end)

describe("yaml documents", function()
  it("decode returns the first document, nil for an empty stream", function()
    assert.are.same({a = 1}, yaml.decode("a: 1\n---\nb: 2\n"))
    assert.is_nil(yaml.decode(""))
    assert.is_nil(yaml.decode("# only a comment\n"))
    assert.is_nil(yaml.decode("--- ~\n"))
    assert.are.same({b = 2}, yaml.decode("---\n# empty\n---\nb: 2\n"))
  end)

  it("decode_all skips empty and null documents as kubectl does", function()
    local docs = yaml.decode_all("---\n# c\n---\na: 1\n---\n---\nnull\n--- ~\n---\n- x\n...\n--- 3\n")
    assert.are.same({{a = 1}, {"x"}, 3}, docs)
    assert.are.equal("array", kind(docs))
    local none = yaml.decode_all("")
    assert.are.equal(0, #none)
    assert.are.equal("array", kind(none))
  end)

  it("encode_all separates documents with ---", function()
    assert.are.equal("a: 1\n---\nb: 2\n--- x\n", yaml.encode_all({{a = 1}, {b = 2}, "x"}))
    assert.are.equal("", yaml.encode_all({}))
    assert.are.same({{a = 1}, {b = 2}}, yaml.decode_all(yaml.encode_all({{a = 1}, {b = 2}})))
  end)

  it("reads block scalars and flow style", function()
    local v = yaml.decode(table.concat({
      "lit: |",
      "  a",
      "   b",
      "strip: |-",
      "  a",
      "keep: |+",
      "  a",
      "",
      "fold: >",
      "  a",
      "  b",
      "",
      "  c",
      "indented: |2",
      "    x",
      "flow: {a: 1, b: [x, 'y', \"z\"], c: {}}",
      "",
    }, "\n"))
    assert.are.equal("a\n b\n", v.lit)
    assert.are.equal("a", v.strip)
    assert.are.equal("a\n\n", v.keep)
    assert.are.equal("a b\nc\n", v.fold)
    assert.are.equal("  x\n", v.indented)
    assert.are.same({a = 1, b = {"x", "y", "z"}, c = {}}, v.flow)
    assert.are.equal("object", kind(v.flow.c))
  end)

  it("keeps null, [] and {} apart through YAML and JSON", function()
    local v = yaml.decode("a: []\nb: {}\nc: null\nd:\ne: [[], {}, ~]\n")
    assert.are.equal("array", kind(v.a))
    assert.are.equal("object", kind(v.b))
    assert.are.equal(yaml.null, v.c)
    assert.are.equal(yaml.null, v.d)
    assert.are.equal(json.null, yaml.null)
    assert.are.equal('{"a":[],"b":{},"c":null,"d":null,"e":[[],{},null]}', json.encode(v, {sort_keys = true}))
    assert.are.equal(canonical(v), canonical(yaml.decode(yaml.encode(v))))
    assert.are.equal(canonical(v), canonical(json.decode(json.encode(v))))
  end)

  it("keeps UTF-8 text as it is", function()
    local v = yaml.decode("name: ünï 😀\n'ключ': значение\n")
    assert.are.equal("ünï 😀", v.name)
    assert.are.equal("значение", v["ключ"])
    assert.truthy(yaml.encode({k = "ünï"}):find("ünï", 1, true))
  end)
end)

describe("yaml anchors, aliases and merge keys", function()
  it("gives each alias its own copy", function()
    local v = yaml.decode("base: &b {x: 1, list: [1, 2]}\none: *b\ntwo: *b\nname: &n hello\nagain: *n\n")
    assert.are.same({x = 1, list = {1, 2}}, v.one)
    v.one.list[1] = 99
    assert.are.equal(1, v.two.list[1])
    assert.are.equal(1, v.base.list[1])
    assert.are.equal("hello", v.again)
    assert.are.equal("array", kind(v.two.list))
  end)

  it("merges mappings; keys written in the mapping win wherever << stands", function()
    local v = yaml.decode(table.concat({
      "base: &b {p: 1, q: 2}",
      "other: &o {p: 5, w: 6}",
      "before: {q: 20, <<: *b, z: 3}",
      "after: {<<: *b, q: 20}",
      "list: {<<: [*b, *o]}",
      "",
    }, "\n"))
    assert.are.same({p = 1, q = 20, z = 3}, v.before)
    assert.are.same({p = 1, q = 20}, v.after)
    assert.are.same({p = 1, q = 2, w = 6}, v.list)
    assert.is_nil(v.before["<<"])
    assert.are.same({["<<"] = "x"}, yaml.decode("'<<': x\n"))
  end)

  it("locates alias errors", function()
    local err = decode_error("a: 1\nb: *nope\n", {source = "values.yaml"})
    assert.are.equal("values.yaml", err.source)
    assert.are.equal(2, err.line)
    assert.are.equal(4, err.column)
    assert.are.equal("values.yaml:2:4: unknown anchor 'nope'", err.message)
    err = decode_error("a: &x [1, *x]\n")
    assert.truthy(err.message:find("inside its own node", 1, true))
    err = decode_error("a: &x 1\nb: {<<: *x}\n")
    assert.truthy(err.message:find("merge", 1, true))
  end)

  it("refuses exponential alias expansion", function()
    local lines = {"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"}
    for i = 1, 9 do
      local refs = {}
      for _ = 1, 10 do
        refs[#refs + 1] = "*a" .. (i - 1)
      end
      lines[#lines + 1] = string.format("a%d: &a%d [%s]", i, i, table.concat(refs, ", "))
    end
    local err = decode_error(table.concat(lines, "\n") .. "\n")
    assert.truthy(err.message:find("excessive aliasing", 1, true))
  end)
end)

describe("yaml errors", function()
  local cases = {
    {"a: b: c\n", 1, 5, "mapping values are not allowed in this context"},
    {"a:\n  - b\n c: d\n", 3, 2, "did not find expected key"},
    {"a: 'unclosed\n", 2, 1, "found unexpected end of stream"},
    {"a: [1, 2\nb: 3\n", 2, 2, "did not find expected ',' or ']'"},
    {"a:\n\t- b\n", 2, 1, "found character that cannot start any token"},
    {"key: \"\\xZZ\"\n", 1, 9, "did not find expected hexdecimal number"},
    {"ok: 1\nbad: \xC3\x28\n", 2, 7, "invalid trailing UTF-8 octet"}, -- at the bad octet
    {"- a\n- b: [\n", 3, 1, "did not find expected node content"},
  }
  for _, case in ipairs(cases) do
    local text, line, column, message = case[1], case[2], case[3], case[4]
    it(string.format("locates %q at %d:%d", text, line, column), function()
      local err = decode_error(text, {source = "file.yaml"})
      assert.are.equal(line, err.line)
      assert.are.equal(column, err.column)
      assert.are.equal("file.yaml", err.source)
      assert.truthy(err.message:find(message, 1, true))
      assert.are.equal(string.format("file.yaml:%d:%d: ", line, column),
        err.message:sub(1, #string.format("file.yaml:%d:%d: ", line, column)))
    end)
  end

  it("reads like 'yaml: file.yaml:1:5: problem' and names no file when given none", function()
    local err = decode_error("a: b: c\n", {source = "file.yaml"})
    assert.are.equal("yaml: file.yaml:1:5: mapping values are not allowed in this context", tostring(err))
    err = decode_error("a: b: c\n")
    assert.are.equal("yaml: line 1, column 5: mapping values are not allowed in this context", tostring(err))
    assert.is_nil(err.source)
  end)

  it("caps nesting at 1000 levels", function()
    local ok_text = string.rep("[", 1000) .. string.rep("]", 1000)
    local v = yaml.decode(ok_text)
    for _ = 1, 999 do
      v = v[1]
    end
    assert.are.equal("array", kind(v))
    assert.are.equal(0, #v)
    local err = decode_error(string.rep("[", 1001) .. string.rep("]", 1001))
    assert.are.equal(1, err.line)
    assert.are.equal(1001, err.column)
    assert.truthy(err.message:find("nesting deeper than 1000", 1, true))
    local deep = {}
    for _ = 1, 1000 do
      deep = {deep}
    end
    local ok, encode_err = pcall(yaml.encode, deep)
    assert.is_false(ok)
    assert.truthy(encode_err.message:find("nesting deeper than 1000", 1, true))
  end)
end)

describe("yaml round trips of the upstream fixtures", function()
  local files = fixture_files(FIXTURES)

  it("finds the fixtures", function()
    assert.is_true(#files >= 1, "no fixtures under " .. FIXTURES)
  end)

  for _, path in ipairs(files) do
    local name = path:sub(#FIXTURES + 2)
    it(name, function()
      local text = read(path)
      local docs = yaml.decode_all(text, {source = name})
      assert.is_true(#docs >= 1)
      for _, doc in ipairs(docs) do
        local again = yaml.encode(doc)
        assert.are.same(doc, yaml.decode(again))
        assert.are.equal(canonical(doc), canonical(yaml.decode(again)))
        -- YAML -> JSON -> YAML gives the same table and the same text
        local via_json = json.decode(json.encode(doc))
        assert.are.equal(canonical(doc), canonical(via_json))
        assert.are.equal(again, yaml.encode(via_json))
      end
      local stream = yaml.encode_all(docs)
      assert.are.equal(canonical(docs), canonical(yaml.decode_all(stream)))
      assert.are.equal(stream, yaml.encode_all(yaml.decode_all(stream)))
    end)
  end
end)

describe("yaml and json on damaged input", function()
  -- Deterministic mutations of real documents: every outcome is either a
  -- value that survives encode -> decode or an error table with a location.
  local junk = {"[", "]", "{", "}", ":", ",", '"', "\\", "\\u", "\\ud800", "&a ", "*a", "<<: ", "- ",
    "\n", "  ", "\t", "!!int ", "!!binary ", "|", ">", "---\n", "\xFF", "\xC3", "0x", "1e999", "#", "'",
    "? ", "~", "\0"}

  local function mutate(text, random)
    for _ = 1, random(1, 6) do
      local at, how = random(0, #text), random(3)
      if how == 1 then
        text = text:sub(1, at) .. junk[random(#junk)] .. text:sub(at + 1)
      elseif how == 2 then
        text = text:sub(1, at) .. text:sub(at + random(1, 20))
      else
        text = text:sub(1, at) .. string.char(random(0, 255)) .. text:sub(at + 2)
      end
    end
    return text
  end

  it("never crashes and always locates its errors", function()
    local seeds = {
      read(FIXTURES .. "/fluxcd+flagger/v1.44.0/kustomize/podinfo/deployment.yaml"),
      read(FIXTURES .. "/mfamador+gitops-demo-tenant-data/_charts/api/values.yaml"),
      '{"a":[1,2.5,-3e-5,null,true,{"b":"\\u00e9\\ud83d\\ude00\\\\\\""}],"c":{},"d":[]}',
    }
    local state = 7
    local function random(low, high) -- a fixed LCG: the same cases on every run
      if not high then
        low, high = 1, low
      end
      state = (state * 1103515245 + 12345) % 2147483648
      return low + state % (high - low + 1)
    end
    local decoded, refused = 0, 0
    for _ = 1, 1500 do
      local text = mutate(seeds[random(#seeds)], random)
      for _, codec in ipairs({yaml, json}) do
        local ok, v = pcall(codec == yaml and yaml.decode_all or json.decode, text)
        if ok then
          decoded = decoded + 1
          local encoded_ok, encoded = pcall(codec.encode, v)
          if encoded_ok then
            assert.are.equal(canonical(v), canonical(codec.decode(encoded)))
          end
        else
          refused = refused + 1
          assert.are.equal("table", type(v))
          assert.is_true(v.line >= 1 and v.column >= 1)
        end
      end
    end
    assert.is_true(decoded > 0 and refused > 0)
  end)
end)

describe("yaml.safe_decode", function()
  it("returns nil and the error instead of raising", function()
    local v, err = yaml.safe_decode("a: 1\nb: [\n", { source = "x.yaml" })
    assert.is_nil(v)
    assert.are.equal("yaml", err.kind)
    assert.are.equal("x.yaml", err.source)
    assert.is_number(err.line)
    assert.are.same({ a = { 1 } }, yaml.safe_decode("a: [1]\n"))
    v, err = yaml.safe_decode("")
    assert.is_nil(v)
    assert.is_nil(err)
  end)

  it("still raises for a mistake in its arguments", function()
    assert.has_error(function() yaml.safe_decode({}) end)
  end)
end)
