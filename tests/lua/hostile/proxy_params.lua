-- hostile: params defaults behind an __index that loops (the host reads them raw and
-- refuses the configured key it cannot find)
-- expect: refused
-- error: unknown parameter
-- config: "params": {"size": 1}
local S = {}
S.params = setmetatable({}, {__index = function() while true do end end})
function S.on_start(ctx) end
return S
