-- Benchmark strategy: takes every market-data callback and does nothing, so a run
-- measures the replay, the host's routing and the Lua call overhead alone.
local S = {}
function S.on_bbo(ctx, b) end
function S.on_trade(ctx, t) end
function S.on_ticker(ctx, t) end
function S.on_oracle(ctx, o) end
function S.on_liquidation(ctx, l) end
return S
