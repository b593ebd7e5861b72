-- Products and their prices. Prices live in a table of their own rather than
-- a jsonb column: the primary key (sku, currency_code) makes "at most one
-- price per currency" a constraint, the CHECK keeps amounts positive, and the
-- currency filter of ListProducts and LookupPrices read them by index.
CREATE TABLE products (
  -- COLLATE "C": SKU order is code-unit order, the order pages follow.
  sku          text COLLATE "C" PRIMARY KEY CHECK (sku ~ '^[A-Z0-9][A-Z0-9-]{0,63}$'),
  name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description  text        NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
  active       boolean     NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE product_prices (
  sku            text COLLATE "C" NOT NULL REFERENCES products (sku) ON DELETE CASCADE,
  currency_code  text   NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
  amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
  PRIMARY KEY (sku, currency_code)
);

-- ListProducts filtered by currency looks prices up by currency first.
CREATE INDEX product_prices_by_currency ON product_prices (currency_code, sku);
