namespace Meshgate.Proxy.Mirroring;

/// <summary>
/// Pairs the primary's answer with the shadow's. Either may arrive first (the shadow can be faster); the second
/// to arrive compares. A side that has no answer (client gone, shadow failed) leaves the pair uncompared.
/// </summary>
internal sealed class MirrorComparison(Action<MirrorAnswer, MirrorAnswer> compare)
{
    private MirrorAnswer? _primary;
    private MirrorAnswer? _shadow;
    private int _arrived;

    public void SetPrimary(MirrorAnswer? answer)
    {
        _primary = answer;
        Arrive();
    }

    public void SetShadow(MirrorAnswer? answer)
    {
        _shadow = answer;
        Arrive();
    }

    private void Arrive()
    {
        // Interlocked.Increment is a full fence: the second arrival sees the first one's write.
        if (Interlocked.Increment(ref _arrived) == 2 && _primary is { } primary && _shadow is { } shadow) compare(primary, shadow);
    }

    public static MirrorDifference Differences(MirrorAnswer primary, MirrorAnswer shadow)
    {
        var difference = MirrorDifference.None;
        if (primary.Status != shadow.Status) difference |= MirrorDifference.Status;
        for (var i = 0; i < primary.Headers.Length; i++)
        {
            if (!string.Equals(primary.Headers[i], shadow.Headers[i], StringComparison.Ordinal)) difference |= MirrorDifference.Headers;
        }
        if (!primary.BodyHash.AsSpan().SequenceEqual(shadow.BodyHash)) difference |= MirrorDifference.Body;
        return difference;
    }
}
