-- Categories whose mean viewed price reaches the $high_value_quantile of category means
-- (linear interpolation, as quantile_cont / Spark's exact percentile).
SELECT category
FROM category_prices
WHERE avg_price >= (SELECT @quantile_cont(avg_price, $high_value_quantile) FROM category_prices)
