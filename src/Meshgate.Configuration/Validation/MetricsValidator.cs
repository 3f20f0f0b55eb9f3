using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level metrics section.</summary>
internal static class MetricsValidator
{
    public static void Validate(MetricsDefinition metrics, ValidationContext context)
    {
        if (metrics.CardinalityLimit is < 1 or > MetricsDefinition.MaxCardinalityLimit)
        {
            context.Error("metrics.cardinalityLimit",
                $"must be between 1 and {MetricsDefinition.MaxCardinalityLimit} (the most series a metric keeps), found {metrics.CardinalityLimit}");
        }
    }
}
