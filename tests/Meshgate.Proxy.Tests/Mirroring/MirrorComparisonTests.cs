using Meshgate.Proxy.Mirroring;

namespace Meshgate.Proxy.Tests.Mirroring;

public sealed class MirrorComparisonTests
{
    private static MirrorAnswer Answer(int status, string? type, byte hash) => new(status, [type], [hash]);

    [Fact]
    public void Differences_ByField_Flagged()
    {
        Assert.Equal(MirrorDifference.None, MirrorComparison.Differences(Answer(200, "text/plain", 1), Answer(200, "text/plain", 1)));
        Assert.Equal(MirrorDifference.Status, MirrorComparison.Differences(Answer(200, "text/plain", 1), Answer(500, "text/plain", 1)));
        Assert.Equal(MirrorDifference.Headers, MirrorComparison.Differences(Answer(200, "text/plain", 1), Answer(200, null, 1)));
        Assert.Equal(MirrorDifference.Body | MirrorDifference.Status, MirrorComparison.Differences(Answer(200, "a", 1), Answer(404, "a", 2)));
    }

    [Fact]
    public void Pair_EitherOrder_ComparesOnceWhenBothArrive()
    {
        var compared = 0;
        var shadowFirst = new MirrorComparison((_, _) => compared++);
        shadowFirst.SetShadow(Answer(200, null, 1));
        Assert.Equal(0, compared);
        shadowFirst.SetPrimary(Answer(200, null, 1));
        Assert.Equal(1, compared);

        var missing = new MirrorComparison((_, _) => compared++);
        missing.SetPrimary(Answer(200, null, 1));
        missing.SetShadow(null); // the shadow failed: nothing to compare
        Assert.Equal(1, compared);
    }
}
