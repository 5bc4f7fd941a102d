-- The victim's harmless version: the baseline run uses it in place of each hostile
-- script, and hot-reload cases start from it.
local S = {}

function S.on_start(ctx)
    ctx.state.started = true
end

function S.on_bbo(ctx, bbo)
end

return S
