//! A small product-listing site with the markup of books.toscrape.com (the target
//! of the worked example in `config/products.toml`), and the answers its rules
//! must give.
//!
//! Two listing pages (`/catalogue/page-1.html`, `page-2.html`), three books, a
//! category page the example excludes, and a robots.txt that 404s.

use super::{Reply, Site};

/// One book, as the site shows it and as the example's rules must read it back.
pub struct Book {
    pub slug: &'static str,
    pub title: &'static str,
    pub price: &'static str,
    pub price_value: f64,
    /// None: out of stock.
    pub in_stock: Option<u64>,
    pub rating: &'static str,
    pub upc: &'static str,
    pub reviews: u64,
    pub category: &'static str,
    pub description: &'static str,
}

pub const BOOKS: [Book; 3] = [
    Book {
        slug: "a-light-in-the-attic_1000",
        title: "A Light in the Attic",
        price: "£51.77",
        price_value: 51.77,
        in_stock: Some(22),
        rating: "Three",
        upc: "a897fe39b1053632",
        reviews: 0,
        category: "Poetry",
        description: "It's hard to imagine a world without A Light in the Attic.",
    },
    Book {
        slug: "tipping-the-velvet_999",
        title: "Tipping the Velvet",
        price: "£1,053.74",
        price_value: 1053.74,
        in_stock: Some(20),
        rating: "One",
        upc: "90fa61229261140a",
        reviews: 7,
        category: "Historical Fiction",
        description: "\"Erotic and absorbing...Written with starling power.\"",
    },
    Book {
        slug: "soumission_998",
        title: "Soumission",
        price: "£50.10",
        price_value: 50.10,
        in_stock: None,
        rating: "Five",
        upc: "6957f44c3847a760",
        reviews: 12,
        category: "Fiction",
        description: "Dans une France assez proche de la nôtre, un homme s'engage en politique.",
    },
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn pod(b: &Book) -> String {
    format!(
        r#"<li class="col-xs-6 col-sm-4 col-md-3 col-lg-3"><article class="product_pod">
  <div class="image_container"><a href="{slug}/index.html"><img src="../media/cache/{slug}.jpg" alt="{t}" class="thumbnail"></a></div>
  <p class="star-rating {rating}"><i class="icon-star"></i></p>
  <h3><a href="{slug}/index.html" title="{t}">{short}...</a></h3>
  <div class="product_price"><p class="price_color">{price}</p>
  <p class="instock availability"><i class="icon-ok"></i> In stock</p></div>
</article></li>"#,
        slug = b.slug,
        t = escape(b.title),
        short = escape(&b.title[..b.title.len().min(12)]),
        rating = b.rating,
        price = b.price,
    )
}

fn listing(page: usize, of: usize, books: &[&Book]) -> String {
    let next = if page < of {
        format!(
            r#"<li class="next"><a href="page-{}.html">next</a></li>"#,
            page + 1
        )
    } else {
        String::new()
    };
    format!(
        r#"<!DOCTYPE html><html lang="en-us"><head><title>All products | Books to Scrape - Sandbox</title>
<meta name="description" content="Listing page {page}"></head><body>
<header class="header container-fluid"><a href="../index.html">Books to Scrape</a></header>
<div class="side_categories"><ul><li><a href="category/books/poetry_23/index.html">Poetry</a></li></ul></div>
<section><ol class="row">{pods}</ol>
<div><ul class="pager"><li class="current">
    Page {page} of {of}
</li>{next}</ul></div></section></body></html>"#,
        pods = books.iter().map(|b| pod(b)).collect::<String>(),
    )
}

fn book_page(b: &Book) -> String {
    let stock = match b.in_stock {
        Some(n) => format!("In stock ({n} available)"),
        None => "Out of stock".to_string(),
    };
    format!(
        r#"<!DOCTYPE html><html lang="en-us"><head><title>{t} | Books to Scrape - Sandbox</title>
<meta name="description" content="
    {desc}
"></head><body>
<ul class="breadcrumb">
  <li><a href="../../index.html">Home</a></li>
  <li><a href="../category/books_1/index.html">Books</a></li>
  <li><a href="../category/books/x_2/index.html">{cat}</a></li>
  <li class="active">{t}</li>
</ul>
<article class="product_page"><div class="row">
<div class="col-sm-6"><div id="product_gallery" class="carousel"><div class="thumbnail"><div class="carousel-inner">
  <div class="item active"><img src="../../media/cache/{slug}.jpg" alt="{t}"></div></div></div></div></div>
<div class="col-sm-6 product_main">
  <h1>{t}</h1>
  <p class="price_color">{price}</p>
  <p class="instock availability">
    <i class="icon-ok"></i>
    {stock}
  </p>
  <p class="star-rating {rating}"><i class="icon-star"></i></p>
</div></div>
<div id="product_description" class="sub-header"><h2>Product Description</h2></div>
<p>{desc}</p>
<table class="table table-striped">
  <tr><th>UPC</th><td>{upc}</td></tr>
  <tr><th>Product Type</th><td>Books</td></tr>
  <tr><th>Price (excl. tax)</th><td>{price}</td></tr>
  <tr><th>Number of reviews</th><td>{reviews}</td></tr>
</table></article></body></html>"#,
        t = escape(b.title),
        desc = escape(b.description),
        cat = escape(b.category),
        slug = b.slug,
        price = b.price,
        rating = b.rating,
        upc = b.upc,
        reviews = b.reviews,
    )
}

/// Serves the shop on `site`; returns the seed URL (the first listing page).
pub fn shop_routes(site: &Site) -> String {
    site.set(
        "/catalogue/page-1.html",
        Reply::Html(listing(1, 2, &[&BOOKS[0], &BOOKS[1]])),
    );
    site.set(
        "/catalogue/page-2.html",
        Reply::Html(listing(2, 2, &[&BOOKS[2]])),
    );
    for b in &BOOKS {
        site.set(
            &format!("/catalogue/{}/index.html", b.slug),
            Reply::Html(book_page(b)),
        );
    }
    site.set(
        "/catalogue/category/books/poetry_23/index.html",
        Reply::Html("<title>Poetry</title>".into()),
    );
    site.set("/index.html", Reply::Html("<title>Home</title>".into()));
    site.url("/catalogue/page-1.html")
}
