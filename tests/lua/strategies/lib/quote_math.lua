-- Price helpers for band_maker.lua, loaded with require("quote_math") from the
-- strategy's lib/ directory (strategies/lib in a real deployment).
local M = {}

-- Price `bps` basis points below / above `mid`.
function M.below(mid, bps)
    return mid * (1 - bps / 1e4)
end

function M.above(mid, bps)
    return mid * (1 + bps / 1e4)
end

-- Distance between two prices, basis points of the first.
function M.moved_bps(from, to)
    return math.abs(to - from) / from * 1e4
end

return M
