--- repl.chunk: turns what was typed at the prompt into a function, the way
-- Lua's own lua.c does: first as an expression (`return <text>`), so that
-- `1 + 1` or `c:list{kind="Pod"}` print their values, then as statements;
-- a syntax error at the end of the text (`<eof>`) means "not finished yet,
-- read another line".
local chunk = {}

chunk.INCOMPLETE = "incomplete"

local EOF_MARK = "<eof>"

local function at_eof(err)
  return type(err) == "string" and err:sub(-#EOF_MARK) == EOF_MARK
end

--- compile(source [, chunkname]) -> fn, "expression"|"statements"
-- | nil, chunk.INCOMPLETE | nil, syntax error message.
-- A leading "=" forces an expression (`=x` as in Lua 5.1).
function chunk.compile(source, chunkname)
  chunkname = chunkname or "=repl"
  local forced = source:sub(1, 1) == "="
  local text = forced and source:sub(2) or source
  local fn, expression_error = load("return " .. text, chunkname, "t")
  if fn then return fn, "expression" end
  if forced then
    if at_eof(expression_error) then return nil, chunk.INCOMPLETE end
    return nil, expression_error
  end
  local statements, statement_error = load(text, chunkname, "t")
  if statements then return statements, "statements" end
  -- `{` or `c:list{` alone are unfinished expressions though not statements
  if at_eof(statement_error) or at_eof(expression_error) then return nil, chunk.INCOMPLETE end
  return nil, statement_error
end

--- True for a line with nothing to run (blank, or only a comment).
function chunk.blank(line)
  return line:match("^%s*$") ~= nil or line:match("^%s*%-%-[^%[]") ~= nil
    or line:match("^%s*%-%-$") ~= nil
end

return chunk
