--- ferry.file: reading whole files, the one way every module does it.
local file = {}

--- file.read(path) -> the whole content, or nil, why (io.open's message,
-- which names the path).
function file.read(path)
  local f, why = io.open(path, "rb")
  if not f then return nil, why end
  local text, read_error = f:read("a")
  f:close()
  if not text then return nil, string.format("%s: %s", path, tostring(read_error)) end
  return text
end

--- file.exists(path) -> true when path can be opened for reading.
function file.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

return file
