using System.Security.Cryptography;
using Meshgate.Proxy.Authentication.Jwt;
using Microsoft.IdentityModel.Tokens;

namespace Meshgate.Proxy.Tests.Authentication;

public sealed class RemoteKeySourceTests
{
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Interlocked.Read(ref _ticks);
        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    private readonly ManualClock _clock = new();
    private readonly List<SecurityKey> _served = [Key("a")];
    private int _fetches;
    private bool _fail;
    private int _failures;

    private static RsaSecurityKey Key(string kid) => new(RSA.Create(2048)) { KeyId = kid };

    private RemoteKeySource Source() => new(
        _ =>
        {
            _fetches++;
            return _fail ? throw new HttpRequestException("down") : Task.FromResult<IReadOnlyList<SecurityKey>>(_served.ToList());
        },
        refreshInterval: TimeSpan.FromMinutes(10), minInterval: TimeSpan.FromSeconds(30), _clock, _ => { }, (_, _) => _failures++);

    [Fact]
    public async Task GetAsync_UnknownKid_RefetchesAtMostOncePerMinInterval()
    {
        var source = Source();
        Assert.Equal(["a"], (await source.GetAsync("a")).Select(k => k.KeyId));
        _served.Add(Key("b"));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain((await source.GetAsync("b")), k => k.KeyId == "b");
        Assert.DoesNotContain((await source.GetAsync("c")), k => k.KeyId == "c");
        Assert.Equal(1, _fetches);

        _clock.Advance(TimeSpan.FromSeconds(25));
        Assert.Contains(await source.GetAsync("b"), k => k.KeyId == "b");
        Assert.Equal(2, _fetches);
    }

    [Fact]
    public async Task GetAsync_FetchFails_KeepsKeysFetchedBefore()
    {
        var source = Source();
        await source.GetAsync("a");
        _fail = true;
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(["a"], (await source.GetAsync("unknown")).Select(k => k.KeyId));
        Assert.Equal(1, _failures);
        Assert.Equal(["a"], (await source.GetAsync("a")).Select(k => k.KeyId));
    }

    [Fact]
    public async Task GetAsync_NeverFetched_AndServerDown_NoKeys()
    {
        _fail = true;
        var source = Source();
        Assert.Empty(await source.GetAsync("a"));
        Assert.Empty(await source.GetAsync("a"));
        Assert.Equal(1, _fetches);
    }
}
