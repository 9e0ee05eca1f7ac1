-- json: decode/encode, located errors, the null and array/object
-- conventions, 64-bit integers, and round trips of the upstream fixtures.

local json = require "json"
local yaml = require "yaml"

local codec = require "tests.spec.support.codec"
local helpers = require "tests.spec.support.helpers"

local FIXTURES = helpers.fixtures()
local fixture_files, kind, canonical = codec.fixture_files, codec.kind, codec.canonical
local read = helpers.read_file

local function decode_error(text)
  local ok, err = pcall(json.decode, text)
  assert.is_false(ok)
  assert.are.equal("json", err.kind)
  return err
end

describe("json.decode", function()
  it("reads objects, arrays, strings, numbers and literals", function()
    local v = json.decode(' { "a" : [1, 2.5, "x", true, false, null], "b": {"c": {}} } ')
    assert.are.same({1, 2.5, "x", true, false, json.null}, v.a)
    assert.are.same({c = {}}, v.b)
    assert.are.equal(json.null, v.a[6])
    assert.are.equal(6, #v.a)
  end)

  it("keeps integers exact over the whole 64-bit range", function()
    assert.are.equal(9007199254740993, json.decode("9007199254740993"))
    assert.are.equal(math.mininteger, json.decode("-9223372036854775808"))
    assert.are.equal(math.maxinteger, json.decode("9223372036854775807"))
    assert.are.equal("integer", math.type(json.decode("9007199254740993")))
    assert.are.equal("integer", math.type(json.decode("-0")))
  end)

  it("reads integers past 64 bits, fractions and exponents as floats", function()
    assert.are.equal("float", math.type(json.decode("9223372036854775808")))
    assert.are.equal(9223372036854775808.0, json.decode("9223372036854775808"))
    assert.are.equal("float", math.type(json.decode("1.0")))
    assert.are.equal("float", math.type(json.decode("1e3")))
    assert.are.equal(1000.0, json.decode("1E+3"))
    assert.are.equal(-0.5, json.decode("-5e-1"))
  end)

  it("decodes escapes, \\u escapes and surrogate pairs to UTF-8", function()
    assert.are.equal('"\\/\b\f\n\r\t', json.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'))
    assert.are.equal("é", json.decode('"\\u00e9"'))
    assert.are.equal("\xE2\x82\xAC", json.decode('"\\u20AC"'))
    assert.are.equal("\xF0\x9F\x98\x80", json.decode('"\\ud83d\\ude00"'))
    assert.are.equal("a\0b", json.decode('"a\\u0000b"'))
    assert.are.equal("ünï 😀", json.decode('"ünï 😀"'))
  end)

  it("skips a UTF-8 byte order mark", function()
    assert.are.same({a = 1}, json.decode('\xEF\xBB\xBF{"a":1}'))
  end)

  it("keeps the last value of a repeated key", function()
    assert.are.equal(2, json.decode('{"a":1,"a":2}').a)
  end)

  it("marks arrays and objects, empty ones included", function()
    local v = json.decode('{"a":[],"b":{},"c":[1],"d":{"x":1}}')
    assert.are.equal("object", kind(v))
    assert.are.equal("array", kind(v.a))
    assert.are.equal("object", kind(v.b))
    assert.are.equal("array", kind(v.c))
    assert.are.equal("object", kind(v.d))
  end)
end)

describe("json.decode errors", function()
  local cases = {
    {'{"a":1,}', 1, 8, "expected a string key"},
    {'{"a" 1}', 1, 6, "expected ':'"},
    {'[1,2\n,3 4]', 2, 4, "expected ',' or ']'"},
    {'{"a": 1\n\n  "b": 2}', 3, 3, "expected ',' or '}'"},
    {'"abc', 1, 5, "unterminated string"},
    {'[1] x', 1, 5, "expected the end of the input"},
    {'', 1, 1, "unexpected end of input"},
    {'{"a":\n  {"b": tru}}', 2, 9, "expected a value"},
    {'01', 1, 1, "leading zero"},
    {'[1.]', 1, 2, "no digit after '.'"},
    {'[1e]', 1, 2, "no digit in exponent"},
    {'"\\x"', 1, 2, "invalid escape"},
    {'"\\u12G4"', 1, 2, "invalid \\u escape"},
    {'"\\ud800"', 1, 2, "without a low surrogate"},
    {'"\\ud800\\u0041"', 1, 2, "without a low surrogate"},
    {'"\\udc00"', 1, 2, "lone low surrogate"},
    {'"a\tb"', 1, 3, "control character"},
    {'["ok", "\xC3\x28"]', 1, 9, "invalid UTF-8"},
    {'"\xC0\xAF"', 1, 2, "invalid UTF-8"},
    {'"\xED\xA0\x80"', 1, 2, "invalid UTF-8"},
    {'"\xF4\x90\x80\x80"', 1, 2, "invalid UTF-8"},
    {'{"é": ü}', 1, 7, "unexpected byte"},
    {'[NaN]', 1, 2, "expected a value"},
  }
  for _, case in ipairs(cases) do
    local text, line, column, message = case[1], case[2], case[3], case[4]
    it(string.format("locates %q at %d:%d", text, line, column), function()
      local err = decode_error(text)
      assert.are.equal(line, err.line)
      assert.are.equal(column, err.column)
      assert.truthy(err.message:find(message, 1, true))
      assert.are.equal(string.format("line %d, column %d: ", line, column),
        err.message:sub(1, #string.format("line %d, column %d: ", line, column)))
      assert.truthy(tostring(err):find("^json: line "))
    end)
  end

  it("safe_decode returns nil and the error instead of raising", function()
    local v, err = json.safe_decode('{"a":\n]')
    assert.is_nil(v)
    assert.are.equal(2, err.line)
    assert.are.equal(1, err.column)
    assert.are.same({a = {1}}, json.safe_decode('{"a":[1]}'))
    assert.has_error(function()
      json.safe_decode({})
    end)
  end)
end)

describe("json.encode", function()
  it("writes compact JSON by default", function()
    assert.are.equal('[1,"a",true,false,null]', json.encode({1, "a", true, false, json.null}))
    assert.are.equal('{"a":{"b":[]}}', json.encode({a = {b = json.array()}}))
    assert.are.equal("null", json.encode(nil))
    assert.are.equal('"x"', json.encode("x"))
  end)

  it("writes sorted, indented output that is stable", function()
    local v = {b = 1, a = {1, 2, {z = json.null, y = "x"}}, c = {}, d = json.array()}
    local expected = table.concat({
      "{",
      '  "a": [',
      "    1,",
      "    2,",
      "    {",
      '      "y": "x",',
      '      "z": null',
      "    }",
      "  ],",
      '  "b": 1,',
      '  "c": {},',
      '  "d": []',
      "}",
    }, "\n")
    assert.are.equal(expected, json.encode(v, {pretty = true, sort_keys = true}))
    assert.are.equal(expected, json.encode(json.decode(expected), {pretty = true, sort_keys = true}))
    assert.are.equal('{\n    "a": 1\n}', json.encode({a = 1}, {indent = 4}))
    assert.are.equal('{"a":1,"b":2,"c":3}', json.encode({c = 3, a = 1, b = 2}, {sort_keys = true}))
  end)

  it("sorts keys by bytes", function()
    assert.are.equal('{"A":1,"_":2,"a":3,"a10":4,"a9":5}',
      json.encode({a9 = 5, a10 = 4, a = 3, _ = 2, A = 1}, {sort_keys = true}))
  end)

  it("writes integers exactly and floats in their shortest exact form", function()
    assert.are.equal("[9007199254740993,-9223372036854775808,9223372036854775807]",
      json.encode({9007199254740993, math.mininteger, math.maxinteger}))
    assert.are.equal("[0.1,1.0,-0.0,1e+300,0.30000000000000004,1.5]",
      json.encode({0.1, 1.0, -0.0, 1e300, 0.1 + 0.2, 1.5}))
    local x = 0.1
    for _ = 1, 1000 do
      x = x * 1.37 + 0.001
      if x > 1e10 then
        x = x / 1e12
      end
      local back = json.decode(json.encode(x))
      assert.are.equal(x, back)
      assert.are.equal("float", math.type(back))
    end
  end)

  it("escapes what JSON requires and keeps UTF-8 as it is", function()
    assert.are.equal('"q\\"b\\\\n\\nt\\tc\\u0001d\\u001f/é😀"', json.encode('q"b\\n\nt\tc\1d\31/é😀'))
    local all = {}
    for byte = 0, 127 do
      all[#all + 1] = string.char(byte)
    end
    local ascii = table.concat(all)
    assert.are.equal(ascii, json.decode(json.encode(ascii)))
  end)

  it("makes an unmarked table an array only when its keys are 1..n", function()
    assert.are.equal("[1,2,3]", json.encode({1, 2, 3}))
    assert.are.equal("{}", json.encode({}))
    assert.are.equal('{"1":1,"2":2,"4":4}', json.encode({[1] = 1, [2] = 2, [4] = 4}, {sort_keys = true}))
    assert.are.equal('{"1":1,"x":2}', json.encode({1, x = 2}, {sort_keys = true}))
    assert.are.equal('{"1.5":true}', json.encode({[1.5] = true}))
  end)

  it("follows marks: json.array and json.object", function()
    local t = {}
    assert.are.equal(t, json.array(t))
    assert.are.equal("[]", json.encode(t))
    assert.are.equal("{}", json.encode(json.object({})))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal('{"1":"a"}', json.encode(json.object({"a"})))
    assert.are.equal("array", kind(json.array()))
    assert.are.equal("object", kind(json.object()))
    assert.has_error(function()
      json.array("x")
    end)
  end)

  it("refuses NaN and infinity, naming where they are", function()
    local ok, err = pcall(json.encode, {a = {b = {1, 0 / 0}}})
    assert.is_false(ok)
    assert.are.equal("$.a.b[2]", err.path)
    assert.truthy(err.message:find("NaN", 1, true))
    ok, err = pcall(json.encode, {["x-y"] = math.huge})
    assert.is_false(ok)
    assert.are.equal('$["x-y"]', err.path)
  end)

  it("refuses values and keys no document can hold", function()
    local ok, err = pcall(json.encode, {list = {1, print}})
    assert.is_false(ok)
    assert.are.equal("$.list[2]", err.path)
    assert.truthy(err.message:find("function", 1, true))
    ok, err = pcall(json.encode, {[true] = 1})
    assert.is_false(ok)
    assert.truthy(err.message:find("boolean key", 1, true))
    ok, err = pcall(json.encode, {a = "\xFF"})
    assert.is_false(ok)
    assert.are.equal("$.a", err.path)
    assert.truthy(err.message:find("invalid UTF-8", 1, true))
  end)

  it("turns a reference cycle into an error", function()
    local t = {name = "loop", child = {}}
    t.child.parent = t
    local ok, err = pcall(json.encode, t)
    assert.is_false(ok)
    assert.are.equal("$.child.parent", err.path)
    assert.truthy(err.message:find("cycle", 1, true))
    local list = json.array()
    list[1] = list
    ok, err = pcall(json.encode, list, {sort_keys = true})
    assert.is_false(ok)
    assert.are.equal("$[1]", err.path)
  end)

  it("encodes a table reached twice without a cycle twice", function()
    local shared = {x = 1}
    assert.are.equal('[{"x":1},{"x":1}]', json.encode({shared, shared}))
  end)
end)

describe("json nesting depth", function()
  it("decodes 1000 levels and refuses 1001", function()
    local ok_text = string.rep("[", 1000) .. string.rep("]", 1000)
    assert.are.equal(ok_text, json.encode(json.decode(ok_text)))
    local err = decode_error(string.rep("[", 1001) .. string.rep("]", 1001))
    assert.are.equal(1, err.line)
    assert.are.equal(1001, err.column)
    assert.truthy(err.message:find("nesting deeper than 1000", 1, true))
    err = decode_error(string.rep('{"a":', 2000))
    assert.truthy(err.message:find("nesting", 1, true))
  end)

  it("encodes 1000 levels and refuses 1001", function()
    local v = {}
    for _ = 2, 1000 do
      v = {v}
    end
    assert.are.equal(2000, #json.encode(v))
    local ok, err = pcall(json.encode, {v})
    assert.is_false(ok)
    assert.truthy(err.message:find("nesting deeper than 1000", 1, true))
  end)
end)

describe("json round trips", function()
  it("keeps null, empty arrays and empty objects apart", function()
    local text = '{"a":null,"b":[],"c":{},"d":[null,[],{}],"e":[[]]}'
    local v = json.decode(text)
    assert.are.equal(text, json.encode(v, {sort_keys = true}))
    assert.are.equal(canonical(v), canonical(json.decode(json.encode(v, {pretty = true}))))
  end)

  it("round-trips every document of the upstream fixtures", function()
    local files = fixture_files(FIXTURES)
    assert.is_true(#files >= 1, "no fixtures under " .. FIXTURES)
    local documents = 0
    for _, path in ipairs(files) do
      local text = read(path)
      local docs = path:match("%.json$") and {json.decode(text)} or yaml.decode_all(text, {source = path})
      assert.is_true(#docs >= 1, path .. " has no document")
      for _, doc in ipairs(docs) do
        local compact = json.encode(doc)
        local pretty = json.encode(doc, {pretty = true, sort_keys = true})
        assert.are.same(doc, json.decode(compact))
        assert.are.equal(canonical(doc), canonical(json.decode(compact)))
        assert.are.equal(canonical(doc), canonical(json.decode(pretty)))
        assert.are.equal(pretty, json.encode(json.decode(pretty), {pretty = true, sort_keys = true}))
        documents = documents + 1
      end
    end
    assert.is_true(documents >= #files)
  end)
end)
