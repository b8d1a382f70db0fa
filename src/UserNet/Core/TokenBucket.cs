namespace UserNet.Core;

/// <summary>A token bucket on the stack's clock: <c>rate</c> tokens a second, holding at most <c>burst</c>.</summary>
internal sealed class TokenBucket
{
    private readonly double _ratePerSecond;
    private readonly double _burst;
    private double _tokens;
    private TimeSpan _last = TimeSpan.MinValue;

    public TokenBucket(int ratePerSecond, int burst)
    {
        _ratePerSecond = ratePerSecond;
        _burst = Math.Max(1, burst);
        _tokens = _burst;
    }

    public bool TryTake(TimeSpan now)
    {
        if (_last != TimeSpan.MinValue && now > _last)
            _tokens = Math.Min(_burst, _tokens + (now - _last).TotalSeconds * _ratePerSecond);
        _last = now;
        if (_tokens < 1) return false;
        _tokens -= 1;
        return true;
    }
}
