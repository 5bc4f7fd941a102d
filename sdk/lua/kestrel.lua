---@meta kestrel
-- Kestrel strategy API: LuaLS definitions for editor completion and type checks.
-- Point your editor's Lua language server at this directory ("workspace.library").
--
-- A strategy is a Lua file that returns a table of callbacks. Every callback receives
-- `ctx`, the strategy's handle on the host. Units: prices in quote currency, quantities
-- in base units, rates as fractions (0.0001 = 1 bp), times in milliseconds since the
-- Unix epoch (virtual in a backtest), durations in seconds unless a name says _ms.
-- Numbers are plain Lua numbers; the host rounds order prices and sizes to the venue's
-- tick and lot (buys down, sells up, sizes down) and refuses what cannot be sent.

---@alias kestrel.Side "buy"|"sell"
---@alias kestrel.OrderType "market"|"limit"
---@alias kestrel.Tif "gtc"|"ioc"|"fok"|"post_only"
---@alias kestrel.OrderStatus "new"|"sent"|"acked"|"partial"|"filled"|"canceled"|"rejected"|"expired"|"unknown"
---@alias kestrel.Mode "live"|"paper"|"observer"
---@alias kestrel.Wallet "spot"|"futures"|"unified"
---@alias kestrel.LogLevel "debug"|"info"|"warn"|"error"
---@alias kestrel.HedgeState "idle"|"opening"|"active"|"closing"|"closed"|"failed"

---A market snapshot from the host's cache. Fields are nil until the venue sent them.
---@class kestrel.Market
---@field symbol string unified symbol: "BTC/USDT" (spot) or "BTC/USDT:USDT" (USDT perp)
---@field venue string venue name from the config
---@field base string base asset, "BTC"
---@field quote string quote asset, "USDT"
---@field kind "spot"|"perp"
---@field tick number price increment
---@field lot number quantity increment, base units
---@field min_qty number smallest order quantity, base units
---@field min_notional number smallest order value, quote currency (0: none)
---@field maker_fee number fee rate for resting orders (0.0002 = 2 bps)
---@field taker_fee number fee rate for taking orders
---@field spec_version integer increases when the venue changes tick, lot, fees, limits
---@field bid? number best bid price
---@field ask? number best ask price
---@field bid_qty? number size at the best bid, base units
---@field ask_qty? number size at the best ask, base units
---@field mid? number (bid + ask) / 2, else the last price
---@field bbo_age_ms? number milliseconds since the host received the BBO (host clock)
---@field last? number last traded price
---@field mark? number mark price (perps)
---@field index? number index price (perps)
---@field oracle? number oracle price (venues that publish one)
---@field oracle_age_ms? number milliseconds since the oracle price was received
---@field funding_rate? number current funding rate per interval; positive: longs pay shorts
---@field funding_rate_8h? number funding_rate / funding_interval_h * 8
---@field next_funding_ts? number next settlement time, ms since the epoch
---@field funding_interval_h? number hours between settlements
---@field open_interest? number base units
---@field volume_24h? number 24 h traded value, quote currency
---@field ticker_age_ms? number milliseconds since the ticker was received

---Filters for ctx.markets(); every field is optional.
---@class kestrel.MarketFilter
---@field venue? string only this venue (default: the strategy's venue)
---@field kind? "spot"|"perp"
---@field quote? string quote asset, "USDT"
---@field base? string base asset
---@field min_volume_24h? number minimum 24 h quote volume
---@field min_funding_8h? number minimum funding rate as an 8 h equivalent
---@field max_funding_8h? number maximum funding rate as an 8 h equivalent
---@field symbols? string[] only these symbols

---@class kestrel.OrderSpec
---@field symbol string unified symbol
---@field side kestrel.Side
---@field qty number base units, > 0
---@field price? number limit price; omit for a market order
---@field type? kestrel.OrderType default "limit" with a price, else "market"
---@field tif? kestrel.Tif default "gtc" for limits, "ioc" for market orders
---@field reduce_only? boolean only reduce a position (never opens or flips one)
---@field venue? string default: the strategy's venue

---An order as the host tracks it.
---@class kestrel.Order
---@field cloid string client order id (strategy-prefixed, unique)
---@field symbol string
---@field status kestrel.OrderStatus
---@field side kestrel.Side
---@field type kestrel.OrderType
---@field price number limit price (0 for market orders)
---@field qty number
---@field filled number cumulative filled quantity
---@field avg_price number average fill price
---@field fee number cumulative fee, quote currency
---@field reason? string why it was rejected or cancelled
---@field reject? string reject code name ("insufficient_funds", "post_only", ...)
---@field ts number venue time of the update, ms

---@class kestrel.Fill
---@field cloid string
---@field symbol string
---@field trade_id string unique per fill at the venue
---@field side kestrel.Side
---@field price number
---@field qty number base units
---@field fee number in fee_asset; negative is a rebate
---@field fee_asset string
---@field maker boolean
---@field ts number venue time, ms

---The strategy's own position in one instrument (the host attributes fills by cloid).
---@class kestrel.Position
---@field symbol string
---@field qty number signed: > 0 long, < 0 short
---@field avg_entry number average entry price of the open quantity
---@field realized_pnl number quote currency, fees excluded
---@field unrealized_pnl number at the current mark
---@field fees number paid, quote currency
---@field funding number received (+) or paid (-), quote currency

---@class kestrel.Balance
---@field asset string
---@field wallet kestrel.Wallet
---@field total number
---@field available number
---@field equity? number account equity (derivatives/unified wallets)

---@class kestrel.Bbo
---@field symbol string
---@field bid number
---@field bid_qty number
---@field ask number
---@field ask_qty number
---@field ts number venue time, ms

---@class kestrel.Book
---@field symbol string
---@field snapshot boolean true: replaces the book; false: a delta (qty 0 removes a level)
---@field bids number[][] {{price, qty}, ...} best first
---@field asks number[][]
---@field ts number

---@class kestrel.Trade
---@field symbol string
---@field price number
---@field qty number
---@field side kestrel.Side aggressor side
---@field ts number

---@class kestrel.Ticker
---@field symbol string
---@field last? number
---@field mark? number
---@field index? number
---@field bid? number
---@field ask? number
---@field funding_rate? number per interval
---@field next_funding_ts? number ms
---@field funding_interval_h? number
---@field open_interest? number base units
---@field volume_24h? number quote currency
---@field ts number

---@class kestrel.Oracle
---@field symbol string
---@field price number
---@field ts number

---A forced liquidation on the venue's public feed.
---@class kestrel.Liquidation
---@field symbol string
---@field side kestrel.Side side of the forced order: "sell" when a long was liquidated
---@field price number
---@field qty number base units
---@field ts number

---One leg of a hedge (leg group).
---@class kestrel.HedgeLeg
---@field symbol string
---@field side kestrel.Side
---@field qty number base units
---@field venue? string

---@class kestrel.HedgeSpec
---@field legs kestrel.HedgeLeg[] sent concurrently as market orders
---@field open_timeout_ms? number legs not filled by then are unwound (default 5000)
---@field max_slippage_bps? number refuse to open when the touch is worse than this vs mid (default 50)
---@field balance? "top_up"|"trim" how partial fills are balanced (default "trim")
---@field tag? string free text stored with the group

---A leg group as the host tracks it.
---@class kestrel.Hedge
---@field id string
---@field state kestrel.HedgeState
---@field reason? string why it moved to its current state
---@field legs {symbol: string, side: kestrel.Side, qty: number, filled: number, avg_price: number}[]
---@field tag? string

---A risk module's notice (margin, drawdown, gates) addressed to the strategy.
---@class kestrel.RiskNotice
---@field module string
---@field reason string
---@field symbol? string

---@class kestrel.Ctx
---@field name string the strategy's name from the config
---@field mode kestrel.Mode "observer" never sends an order; "paper" fills against the host's paper matcher
---@field venue string the strategy's default venue
---@field symbols string[] the symbols from the config (subscribed at start)
---@field params table the config's params over the strategy's `params` defaults
---@field capital number the strategy's capital from the config, quote currency
---@field state table persisted by the host (SQLite): survives hot reload and restart; strings, numbers, booleans and nested tables only
local ctx = {}

---Time now, ms since the epoch (virtual in a backtest).
---@return number
function ctx.now() end

---Writes a line to the host log, tagged with the strategy's name.
---@param level_or_msg kestrel.LogLevel|string
---@param msg? string
function ctx.log(level_or_msg, msg) end

---Sets a named gauge of the strategy (at most 256 names); `kestrel ctl status` lists them.
---@param name string
---@param value number
function ctx.metric(name, value) end

---Adds a line to the notes of the backtest report (`summary.json` and `report.html`),
---shown as "strategy NAME: TEXT": say how the strategy was set up for the data (a filter
---turned off, a parameter forced). Repeating a text adds it once; at most 32 notes.
---@param text string 1..300 bytes
function ctx.report_note(text) end

---A snapshot of one market, or nil, err when the symbol is unknown.
---@param symbol string
---@param venue? string
---@return kestrel.Market|nil market
---@return string? err
function ctx.market(symbol, venue) end

---Scans the venue's universe; returns matching markets sorted by symbol.
---@param filter? kestrel.MarketFilter
---@return kestrel.Market[]
function ctx.markets(filter) end

---Adds market data for a symbol (callbacks start arriving for it).
---@param symbol string
---@param venue? string
---@return boolean|nil ok
---@return string? err
function ctx.subscribe(symbol, venue) end

---Sends an order. Returns the client order id, or nil and the reason it was refused
---(risk, minimum size, observer mode, venue closed...).
---@param spec kestrel.OrderSpec
---@return string|nil cloid
---@return string? err
function ctx.order(spec) end

---Asks the venue to cancel an order of this strategy.
---@param cloid string
---@return boolean|nil ok
---@return string? err
function ctx.cancel(cloid) end

---Cancels every open order of this strategy (optionally of one symbol).
---@param symbol? string
---@return integer count
function ctx.cancel_all(symbol) end

---Changes the price and/or quantity of a resting order where the venue supports it.
---@param cloid string
---@param changes {price?: number, qty?: number}
---@return boolean|nil ok
---@return string? err
function ctx.amend(cloid, changes) end

---One order of this strategy by client id, or nil.
---@param cloid string
---@return kestrel.Order|nil
function ctx.get_order(cloid) end

---The strategy's open (not final) orders, optionally of one symbol.
---@param symbol? string
---@return kestrel.Order[]
function ctx.open_orders(symbol) end

---Opens a leg group: the legs are sent concurrently; if one fails or does not fill in
---time, the host unwinds what filled with reduce-only market orders. Progress arrives
---in on_hedge.
---@param spec kestrel.HedgeSpec
---@return string|nil id
---@return string? err
function ctx.hedge(spec) end

---Closes an active leg group (every leg reduce-only at market; a leg that fails to
---close restores the hedge rather than leaving one side open). With a fraction below 1
---every leg is reduced by that share of its position and the group stays active.
---@param id string
---@param fraction? number share to close, (0, 1], default 1
---@return boolean|nil ok
---@return string? err
function ctx.close_hedge(id, fraction) end

---One leg group of this strategy, or nil.
---@param id string
---@return kestrel.Hedge|nil
function ctx.get_hedge(id) end

---The strategy's leg groups that are not closed or failed.
---@return kestrel.Hedge[]
function ctx.hedges() end

---The strategy's position in one instrument (zero when flat), or nil, err.
---@param symbol string
---@param venue? string
---@return kestrel.Position|nil
---@return string? err
function ctx.position(symbol, venue) end

---Every non-zero position of this strategy.
---@return kestrel.Position[]
function ctx.positions() end

---A venue wallet balance, or nil, err when the venue has not reported it.
---@param asset string
---@param wallet? kestrel.Wallet default "futures" (falls back to "unified")
---@return kestrel.Balance|nil
---@return string? err
function ctx.balance(asset, wallet) end

---Margin level of the venue's derivatives account: equity / maintenance margin
---(nil when unknown or no margin is used). Below 1 means liquidation.
---@param venue? string
---@return number|nil
function ctx.margin_level(venue) end

---The strategy's equity: capital + realized + unrealized PnL + funding - fees.
---@return number
function ctx.equity() end

---Moves funds between wallets where the venue has separate ones. The result arrives
---in on_transfer.
---@param spec {asset: string, amount: number, from: kestrel.Wallet, to: kestrel.Wallet, venue?: string}
---@return string|nil id
---@return string? err
function ctx.transfer(spec) end

---Appends a row to the strategy's record `name`: a CSV file
---<state_dir>/records/<strategy>.<name>.csv (the first row's keys, sorted, make the
---header) and an event in the store journal ("record.<name>"). For signals,
---opportunities and statistics a quant wants to read later.
---@param name string [a-z0-9_]+, at most 32 characters
---@param row table<string, number|string|boolean>
---@return boolean|nil ok
---@return string? err
function ctx.record(name, row) end

---Arms a named timer: on_timer(ctx, name) after `after` seconds, then every `every`
---seconds when given. Re-arming a name replaces it. Timers survive hot reload.
---@param name string
---@param after number seconds
---@param every? number seconds (>= 0.001)
function ctx.timer(name, after, every) end

---Stops a named timer.
---@param name string
function ctx.cancel_timer(name) end

---@class kestrel.Strategy
---@field params? table defaults for ctx.params (the config may override with the same types)
local Strategy = {}

---Once, when the strategy starts (or is enabled).
---@param ctx kestrel.Ctx
function Strategy.on_start(ctx) end

---Once, when the host stops or the strategy is disabled.
---@param ctx kestrel.Ctx
function Strategy.on_stop(ctx) end

---@param ctx kestrel.Ctx
---@param bbo kestrel.Bbo
function Strategy.on_bbo(ctx, bbo) end

---@param ctx kestrel.Ctx
---@param book kestrel.Book
function Strategy.on_book(ctx, book) end

---@param ctx kestrel.Ctx
---@param trade kestrel.Trade
function Strategy.on_trade(ctx, trade) end

---@param ctx kestrel.Ctx
---@param ticker kestrel.Ticker
function Strategy.on_ticker(ctx, ticker) end

---@param ctx kestrel.Ctx
---@param oracle kestrel.Oracle
function Strategy.on_oracle(ctx, oracle) end

---@param ctx kestrel.Ctx
---@param liq kestrel.Liquidation
function Strategy.on_liquidation(ctx, liq) end

---An order of this strategy changed state.
---@param ctx kestrel.Ctx
---@param order kestrel.Order
function Strategy.on_order(ctx, order) end

---An order of this strategy filled (partly).
---@param ctx kestrel.Ctx
---@param fill kestrel.Fill
function Strategy.on_fill(ctx, fill) end

---The strategy's position changed (after a fill).
---@param ctx kestrel.Ctx
---@param position kestrel.Position
function Strategy.on_position(ctx, position) end

---A timer armed with ctx.timer fired.
---@param ctx kestrel.Ctx
---@param name string
function Strategy.on_timer(ctx, name) end

---A leg group of this strategy changed state.
---@param ctx kestrel.Ctx
---@param hedge kestrel.Hedge
function Strategy.on_hedge(ctx, hedge) end

---A wallet transfer finished.
---@param ctx kestrel.Ctx
---@param result {id: string, ok: boolean, asset: string, amount: number, from: kestrel.Wallet, to: kestrel.Wallet, reason?: string}
function Strategy.on_transfer(ctx, result) end

---A risk module addressed the strategy (margin level low, drawdown warning, a gate).
---@param ctx kestrel.Ctx
---@param notice kestrel.RiskNotice
function Strategy.on_risk(ctx, notice) end

---Called in the NEW version after a hot reload, before it takes over. ctx.state already
---holds the old state; return normally to accept, raise an error to keep the old version.
---@param ctx kestrel.Ctx
---@param old_state table
function Strategy.on_reload(ctx, old_state) end

---The config's params changed; ctx.params already holds the new values.
---@param ctx kestrel.Ctx
---@param new_params table
function Strategy.on_params(ctx, new_params) end

return Strategy
