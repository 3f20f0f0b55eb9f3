using System.Globalization;
using System.Runtime.CompilerServices;
using Meshgate.Configuration.Compilation;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// The destinations of one <c>availableDestinations</c> list that may receive traffic, with their effective
/// weights, built once per list and shared by every policy.
/// </summary>
/// <remarks>
/// YARP hands a new list instance whenever the available set changes, so the list is the cache key. A cached
/// entry is still checked against the list (same states, same models) because a weight change replaces a
/// destination's <see cref="DestinationModel"/>, and a list built by our own middleware could be reused.
/// Weight rules: absent or unparseable = 1, clamped to 0..1000, 0 = no traffic unless every destination
/// has weight 0, in which case all count as 1 (so a fully drained cluster still serves rather than failing).
/// </remarks>
internal sealed class WeightedDestinations
{
    public const int DefaultWeight = 1;
    public const int MaxWeight = 1000;

    private static readonly ConditionalWeakTable<IReadOnlyList<DestinationState>, WeightedDestinations> Cache = new();

    private readonly DestinationState[] _sourceStates;
    private readonly DestinationModel?[] _sourceModels;

    private WeightedDestinations(IReadOnlyList<DestinationState> list)
    {
        var count = list.Count;
        _sourceStates = new DestinationState[count];
        _sourceModels = new DestinationModel?[count];
        var weights = new int[count];
        var anyPositive = false;
        for (var i = 0; i < count; i++)
        {
            var destination = list[i];
            _sourceStates[i] = destination;
            _sourceModels[i] = destination.Model;
            weights[i] = ReadWeight(destination);
            anyPositive |= weights[i] > 0;
        }

        var selected = new List<DestinationState>(count);
        var selectedWeights = new List<int>(count);
        for (var i = 0; i < count; i++)
        {
            var weight = anyPositive ? weights[i] : DefaultWeight;
            if (weight > 0)
            {
                selected.Add(_sourceStates[i]);
                selectedWeights.Add(weight);
            }
        }

        Destinations = selected.ToArray();
        Weights = selectedWeights.ToArray();
        CumulativeWeights = new long[Weights.Length];
        long total = 0;
        for (var i = 0; i < Weights.Length; i++)
        {
            total += Weights[i];
            CumulativeWeights[i] = total;
        }

        TotalWeight = total;
    }

    /// <summary>Destinations with a positive effective weight, in list order.</summary>
    public DestinationState[] Destinations { get; }

    /// <summary>Effective weight of <see cref="Destinations"/>[i], always &gt; 0.</summary>
    public int[] Weights { get; }

    /// <summary>Running sum of <see cref="Weights"/>, for weighted random picks by binary search.</summary>
    public long[] CumulativeWeights { get; }

    public long TotalWeight { get; }

    public int Count => Destinations.Length;

    /// <summary>Returns the cached entry for <paramref name="list"/>, rebuilding it when the list or a model changed.</summary>
    public static WeightedDestinations For(IReadOnlyList<DestinationState> list)
    {
        if (Cache.TryGetValue(list, out var cached) && cached.Matches(list))
        {
            return cached;
        }

        var built = new WeightedDestinations(list);
        Cache.AddOrUpdate(list, built);
        return built;
    }

    /// <summary>Reads a destination's weight from its metadata; see the type remarks for the rules.</summary>
    public static int ReadWeight(DestinationState destination)
    {
        var metadata = destination.Model?.Config.Metadata;
        if (metadata is null || !metadata.TryGetValue(MetadataKeys.Weight, out var text)
            || !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var weight))
        {
            return DefaultWeight;
        }

        return Math.Clamp(weight, 0, MaxWeight);
    }

    /// <summary>Index into <see cref="Destinations"/> chosen with probability proportional to weight.</summary>
    public int PickWeightedIndex(IRandomSource random)
    {
        if (Destinations.Length == 1)
        {
            return 0;
        }

        return IndexOfTicket(random.NextInt64(TotalWeight));
    }

    /// <summary>Like <see cref="PickWeightedIndex"/> but never returns <paramref name="excluded"/>; needs Count &gt;= 2.</summary>
    public int PickWeightedIndexExcluding(IRandomSource random, int excluded)
    {
        // Draw from the total without the excluded weight, then shift tickets past the excluded range;
        // this keeps the draw single-shot instead of retrying until a different index comes up.
        var ticket = random.NextInt64(TotalWeight - Weights[excluded]);
        var excludedStart = CumulativeWeights[excluded] - Weights[excluded];
        if (ticket >= excludedStart)
        {
            ticket += Weights[excluded];
        }

        return IndexOfTicket(ticket);
    }

    private int IndexOfTicket(long ticket)
    {
        // First index whose running sum exceeds the ticket.
        int lo = 0, hi = CumulativeWeights.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (CumulativeWeights[mid] > ticket)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    private bool Matches(IReadOnlyList<DestinationState> list)
    {
        if (list.Count != _sourceStates.Length)
        {
            return false;
        }

        for (var i = 0; i < _sourceStates.Length; i++)
        {
            var destination = list[i];
            if (!ReferenceEquals(destination, _sourceStates[i]) || !ReferenceEquals(destination.Model, _sourceModels[i]))
            {
                return false;
            }
        }

        return true;
    }
}
