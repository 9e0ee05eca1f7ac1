-- luassert's spies, stubs, mocks and matchers.

describe("spy", function()
  it("records calls and passes them on", function()
    local s = spy.new(function(a, b) return a + b end)
    assert.are.equal(3, s(1, 2))
    s(10, 20)
    assert.spy(s).was.called()
    assert.spy(s).was.called(2)
    assert.spy(s).was.called_with(1, 2)
    assert.spy(s).was_not.called_with(1, 3)
    assert.spy(s).returned_with(30)
    assert.spy(s).called_at_least(1)
    assert.spy(s).called_at_most(2)
    assert.spy(s).called_more_than(1)
    assert.spy(s).called_less_than(3)
    assert.are.equal(2, #s.calls)
    assert.are.same({ 10, 20, n = 2 }, s.calls[2].vals)
  end)

  it("replaces a function with spy.on and reverts", function()
    local t = { greet = function(name) return "hello " .. name end }
    local original = t.greet
    local s = spy.on(t, "greet")
    assert.are.equal("hello x", t.greet("x"))
    assert.spy(t.greet).was.called_with("x")
    s:revert()
    assert.are.equal(original, t.greet)
  end)

  it("clears", function()
    local s = spy.new(function() end)
    s()
    s:clear()
    assert.spy(s).was_not.called()
  end)

  it("copies arguments deeply", function()
    local s = spy.new(function() end)
    local t = { 1 }
    s(t)
    t[1] = 2
    assert.spy(s).was.called_with({ 1 })
    assert.spy(s).was.called_with(match.is_ref(t))
  end)

  it("is a spy", function()
    assert.is_true(spy.is_spy(spy.new()))
    assert.is_false(spy.is_spy(function() end))
  end)

  it("fails called with a count", function()
    local s = spy.new(function() end)
    s()
    assert.spy(s).was.called(2)
  end)

  it("fails not called", function()
    local s = spy.new(function() end)
    s(1)
    assert.spy(s).was_not.called()
  end)

  it("fails called_with", function()
    local s = spy.new(function() end)
    s(1, "two", { three = 3 })
    assert.spy(s).was.called_with(1, "two", { three = 4 })
  end)

  it("fails called_with when never called", function()
    local s = spy.new(function() end)
    assert.spy(s).was.called_with(1)
  end)

  it("fails not called_with", function()
    local s = spy.new(function() end)
    s("a")
    assert.spy(s).was_not.called_with("a")
  end)

  it("fails returned_with", function()
    local s = spy.new(function() return 1, 2 end)
    s()
    assert.spy(s).returned_with(1)
  end)

  it("fails called_at_least", function()
    local s = spy.new(function() end)
    assert.spy(s).called_at_least(1)
  end)

  it("fails called_at_most", function()
    local s = spy.new(function() end)
    s() s() s()
    assert.spy(s).called_at_most(2)
  end)

  it("fails called_more_than and less_than", function()
    local s = spy.new(function() end)
    s()
    assert.spy(s).called_less_than(1)
  end)

  it("errors when not chained", function()
    assert.is.called()
  end)

  it("errors on a non-callable", function()
    spy.new(42)
  end)
end)

describe("stub", function()
  it("answers instead of the original", function()
    local t = { f = function() return "real" end }
    local s = stub(t, "f")
    assert.is_nil(t.f())
    s.returns("fake", 2)
    local a, b = t.f()
    assert.are.equal("fake", a)
    assert.are.equal(2, b)
    s.invokes(function(x) return x * 10 end)
    assert.are.equal(30, t.f(3))
    s.on_call_with("special").returns("just for this")
    assert.are.equal("just for this", t.f("special"))
    assert.stub(t.f).was.called(4)
    s:revert()
    assert.are.equal("real", t.f())
  end)

  it("returns given values", function()
    local t = {}
    stub(t, "get", "a", "b")
    local a, b = t.get()
    assert.are.same({ "a", "b" }, { a, b })
  end)

  it("takes a function as the answer", function()
    local t = {}
    stub(t, "double", function(x) return 2 * x end)
    assert.are.equal(8, t.double(4))
  end)

  it("matches on_call_with with matchers", function()
    local t = {}
    local s = stub(t, "f").returns("default")
    s.on_call_with(match.is_string()).returns("string")
    s.on_call_with(match.is_number(), match._).invokes(function(n, m) return n .. "+" .. tostring(m) end)
    assert.are.equal("string", t.f("x"))
    assert.are.equal("1+nil", t.f(1, nil))
    assert.are.equal("default", t.f(1))
    assert.are.equal("default", t.f({}))
  end)

  it("makes a blank stub", function()
    local s = stub()
    s(1)
    assert.stub(s).was.called_with(1)
  end)

  it("fails on a non-table", function()
    stub("x", "y")
  end)

  it("fails on a value that is not callable", function()
    stub({ f = 1 }, "f")
  end)

  it("fails called_with", function()
    local t = {}
    stub(t, "f")
    t.f("a", "b")
    assert.stub(t.f).was.called_with("a", "c")
  end)
end)

describe("mock", function()
  it("spies on every function", function()
    local client = { get = function(_, x) return x end, nested = { put = function() return "put" end }, value = 1 }
    local m = mock(client)
    assert.are.equal(5, m:get(5))
    assert.are.equal("put", m.nested.put())
    assert.spy(m.get).was.called_with(m, 5)
    assert.spy(m.nested.put).was.called()
    mock.revert(m)
    assert.is_false(spy.is_spy(client.get))
  end)

  it("stubs every function", function()
    local client = { get = function() return "real" end }
    local m = mock(client, true)
    assert.is_nil(m.get())
    assert.stub(m.get).was.called()
    mock.clear(m)
    assert.stub(m.get).was_not.called()
    mock.revert(m)
    assert.are.equal("real", client.get())
  end)
end)

describe("match", function()
  it("matches by type and value", function()
    local s = spy.new(function() end)
    s("text", 42, { a = 1 }, nil, true)
    assert.spy(s).was.called_with(match._, match._, match._, match._, match._)
    assert.spy(s).was.called_with(match.is_string(), match.is_number(), match.is_table(), match.is_nil(),
      match.is_true())
    assert.spy(s).was.called_with(match.matches("^te"), match.is_near(40, 5), match.is_same({ a = 1 }),
      match.is_falsy(), match.is_truthy())
    assert.spy(s).was.called_with(match.is_not.is_number(), match.is_equal(42), match._, match._, match.is_boolean())
    assert.spy(s).was.called_with(match.any_of(match.is_number(), match.is_string()),
      match.all_of(match.is_number(), match.is_near(42, 0)),
      match.none_of(match.is_string(), match.is_number()), match._, match._)
  end)

  it("tells matchers apart", function()
    assert.is_true(match.is_matcher(match._))
    assert.is_true(match.is_matcher(match.is_string()))
    assert.is_false(match.is_matcher({}))
    assert.is_true(match.is_string()("x"))
    assert.is_false(match.is_not_string()("x"))
  end)

  it("names matchers in failures", function()
    local s = spy.new(function() end)
    s(1)
    assert.spy(s).was.called_with(match.is_string(), match.is_not.is_nil(), match.is_same({ 1 }))
  end)

  it("registers a matcher", function()
    assert:register("matcher", "even", function(state, arguments)
      return function(value) return type(value) == "number" and value % 2 == 0 end
    end)
    local s = spy.new(function() end)
    s(4)
    assert.spy(s).was.called_with(match.is_even())
    assert.spy(s).was.called_with(match.is_not.even())
  end)

  it("fails on a bad matcher argument", function()
    match.is_ref(1)
  end)
end)

describe("snapshot", function()
  it("reverts spies made after it", function()
    local t = { f = function() return "original" end }
    local snapshot = assert:snapshot()
    stub(t, "f").returns("stubbed")
    assert.are.equal("stubbed", t.f())
    snapshot:revert()
    assert.are.equal("original", t.f())
  end)
end)
