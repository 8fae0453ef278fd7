package synth

// The fixed tables the world is built from. The tree shape, names and
// medians are the same for every seed; only what is drawn from them varies.

type topSpec struct {
	name   string
	weight float64 // relative popularity: share of items and interests
	mids   []midSpec
}

type midSpec struct {
	name string
	leaf []leafSpec
}

type leafSpec struct {
	name   string  // last element of the category path
	noun   string  // English product noun used in titles and queries
	cjk    string  // the same noun in Chinese or Japanese
	median float64 // median price
	tags   string  // space-separated lowercase words for titles, tags, queries
}

var tree = []topSpec{
	{"Sports", 0.9, []midSpec{
		{"Running", []leafSpec{
			{"Shoes", "Running Shoes", "跑步鞋", 90, "trail road cushioned lightweight waterproof"},
			{"Apparel", "Running Shirt", "跑步服", 35, "breathable reflective lightweight merino seamless"},
			{"Watches", "GPS Watch", "ランニングウォッチ", 220, "running waterproof lightweight solar smart"},
		}},
		{"Cycling", []leafSpec{
			{"Helmets", "Bike Helmet", "自行车头盔", 70, "road mountain aero ventilated lightweight"},
			{"Lights", "Bike Light", "自行车灯", 30, "rechargeable bright led waterproof rear"},
			{"Jerseys", "Cycling Jersey", "サイクルジャージ", 60, "road mountain padded breathable aero"},
		}},
		{"Fitness", []leafSpec{
			{"Dumbbells", "Dumbbell Set", "哑铃", 60, "adjustable hex rubber heavy compact"},
			{"Yoga Mats", "Yoga Mat", "ヨガマット", 30, "nonslip thick cork foldable travel"},
			{"Resistance Bands", "Resistance Band", "弹力带", 15, "loop heavy mini fabric pullup"},
		}},
		{"Camping", []leafSpec{
			{"Tents", "Camping Tent", "帐篷", 150, "waterproof ultralight family backpacking instant"},
			{"Sleeping Bags", "Sleeping Bag", "睡袋", 80, "insulated ultralight down compact winter"},
			{"Stoves", "Camping Stove", "キャンプストーブ", 45, "compact portable gas backpacking folding"},
		}},
	}},
	{"Home", 1.3, []midSpec{
		{"Kitchen", []leafSpec{
			{"Cookware", "Frying Pan", "炒锅", 40, "nonstick stainless ceramic induction deep"},
			{"Knives", "Chef Knife", "厨师刀", 60, "stainless forged japanese damascus sharp"},
			{"Coffee Makers", "Coffee Maker", "コーヒーメーカー", 90, "programmable espresso drip thermal compact"},
		}},
		{"Bedding", []leafSpec{
			{"Pillows", "Pillow", "枕头", 30, "memory cooling hypoallergenic soft firm"},
			{"Duvets", "Duvet", "羽绒被", 120, "down cotton lightweight winter king"},
			{"Sheets", "Sheet Set", "ベッドシーツ", 50, "cotton linen percale king cooling"},
		}},
		{"Furniture", []leafSpec{
			{"Desks", "Standing Desk", "升降桌", 300, "adjustable electric oak compact ergonomic"},
			{"Chairs", "Office Chair", "オフィスチェア", 200, "ergonomic mesh adjustable leather swivel"},
			{"Shelves", "Bookshelf", "书架", 90, "oak modern industrial corner storage"},
		}},
		{"Cleaning", []leafSpec{
			{"Vacuums", "Vacuum Cleaner", "吸尘器", 180, "cordless bagless robot handheld compact"},
			{"Detergents", "Laundry Detergent", "洗衣液", 12, "ecofriendly unscented concentrated liquid sensitive"},
			{"Mops", "Spin Mop", "拖把", 25, "microfiber spin steam reusable compact"},
		}},
	}},
	{"Electronics", 1.4, []midSpec{
		{"Audio", []leafSpec{
			{"Headphones", "Headphones", "ヘッドホン", 120, "wireless noisecancelling retro studio foldable"},
			{"Speakers", "Bluetooth Speaker", "蓝牙音箱", 60, "bluetooth portable waterproof smart loud"},
			{"Earbuds", "Wireless Earbuds", "无线耳机", 80, "wireless noisecancelling sport waterproof bluetooth"},
		}},
		{"Computers", []leafSpec{
			{"Laptops", "Laptop", "笔记本电脑", 450, "gaming ultrathin touchscreen business lightweight"},
			{"Keyboards", "Mechanical Keyboard", "キーボード", 70, "mechanical wireless backlit gaming ergonomic"},
			{"Monitors", "Monitor", "显示器", 250, "curved gaming ultrawide portable office"},
		}},
		{"Phones", []leafSpec{
			{"Cases", "Phone Case", "手机壳", 15, "rugged slim magnetic clear leather"},
			{"Chargers", "Phone Charger", "充电器", 20, "fast wireless magnetic dualport compact"},
			{"Power Banks", "Power Bank", "モバイルバッテリー", 30, "fast portable slim magnetic solar"},
		}},
		{"Cameras", []leafSpec{
			{"Action Cameras", "Action Camera", "运动相机", 250, "waterproof stabilized helmet mini underwater"},
			{"Tripods", "Tripod", "三脚架", 40, "compact travel aluminum flexible carbon"},
		}},
	}},
	{"Books", 0.8, []midSpec{
		{"Fiction", []leafSpec{
			{"Mystery", "Mystery Novel", "推理小说", 15, "bestseller paperback hardcover detective thriller"},
			{"Fantasy", "Fantasy Novel", "ファンタジー小説", 16, "bestseller paperback hardcover epic series"},
			{"Romance", "Romance Novel", "言情小说", 12, "bestseller paperback historical contemporary series"},
		}},
		{"Nonfiction", []leafSpec{
			{"Cookbooks", "Cookbook", "菜谱", 25, "vegetarian baking quick illustrated beginner"},
			{"History", "History Book", "历史书", 20, "hardcover illustrated ancient war medieval"},
			{"Self Help", "Self Help Book", "励志书", 15, "bestseller paperback productivity mindfulness habits"},
		}},
		{"Children", []leafSpec{
			{"Picture Books", "Picture Book", "绘本", 10, "illustrated bedtime animals hardcover toddler"},
			{"Activity Books", "Activity Book", "ぬりえ", 8, "coloring stickers puzzles educational preschool"},
		}},
	}},
	{"Beauty", 1.0, []midSpec{
		{"Skincare", []leafSpec{
			{"Moisturizers", "Moisturizer", "保湿霜", 25, "hydrating organic gentle vegan night"},
			{"Sunscreen", "Sunscreen", "日焼け止め", 15, "spf mineral waterproof sensitive vegan"},
			{"Serums", "Face Serum", "精华液", 35, "vitamin retinol hydrating brightening vegan"},
		}},
		{"Makeup", []leafSpec{
			{"Lipstick", "Lipstick", "口红", 18, "matte longwear vegan nude glossy"},
			{"Mascara", "Mascara", "マスカラ", 14, "waterproof volumizing lengthening vegan black"},
			{"Foundation", "Foundation", "粉底液", 30, "matte dewy longwear vegan liquid"},
		}},
		{"Hair", []leafSpec{
			{"Shampoo", "Shampoo", "洗发水", 12, "gentle volumizing curly repair argan"},
			{"Hair Dryers", "Hair Dryer", "ドライヤー", 60, "ionic compact travel fast quiet"},
		}},
	}},
	{"Baby", 0.5, []midSpec{
		{"Feeding", []leafSpec{
			{"Formula", "Baby Formula", "奶粉", 30, "organic newborn toddler sensitive stage"},
			{"Bottles", "Baby Bottle", "哺乳瓶", 12, "leakproof wide glass newborn silicone"},
			{"High Chairs", "High Chair", "宝宝餐椅", 90, "foldable convertible wooden compact adjustable"},
		}},
		{"Diapering", []leafSpec{
			{"Diapers", "Diapers", "纸尿裤", 35, "hypoallergenic overnight newborn sensitive ultrasoft"},
			{"Wipes", "Baby Wipes", "おしりふき", 8, "unscented sensitive water biodegradable travel"},
		}},
		{"Gear", []leafSpec{
			{"Strollers", "Stroller", "ベビーカー", 300, "lightweight foldable compact travel jogging"},
			{"Car Seats", "Car Seat", "安全座椅", 200, "convertible infant booster isofix rotating"},
			{"Carriers", "Baby Carrier", "婴儿背带", 60, "ergonomic newborn mesh convertible wrap"},
		}},
	}},
	{"Fashion", 1.6, []midSpec{
		{"Women", []leafSpec{
			{"Dresses", "Dress", "连衣裙", 45, "casual summer linen maxi floral"},
			{"Handbags", "Handbag", "ハンドバッグ", 80, "leather crossbody quilted vintage mini"},
			{"Jeans", "Jeans", "牛仔裤", 50, "skinny stretch vintage dark ripped"},
		}},
		{"Men", []leafSpec{
			{"Shirts", "Shirt", "衬衫", 35, "slim linen oxford cotton casual"},
			{"Jackets", "Jacket", "ジャケット", 110, "waterproof denim leather puffer bomber"},
			{"Sneakers", "Sneakers", "运动鞋", 75, "white leather running classic canvas"},
		}},
		{"Accessories", []leafSpec{
			{"Watches", "Wristwatch", "腕表", 150, "automatic leather minimalist classic chronograph"},
			{"Sunglasses", "Sunglasses", "サングラス", 40, "polarized aviator vintage sport uv"},
			{"Wallets", "Wallet", "钱包", 30, "leather slim card minimalist bifold"},
		}},
	}},
	{"Grocery", 1.0, []midSpec{
		{"Beverages", []leafSpec{
			{"Coffee", "Coffee Beans", "咖啡豆", 14, "organic decaf arabica espresso dark"},
			{"Tea", "Green Tea", "绿茶", 8, "organic matcha loose sencha premium"},
			{"Juice", "Orange Juice", "オレンジジュース", 5, "organic fresh unsweetened pulp premium"},
		}},
		{"Snacks", []leafSpec{
			{"Chips", "Potato Chips", "薯片", 5, "salted spicy kettle organic crunchy"},
			{"Nuts", "Mixed Nuts", "坚果", 10, "roasted salted honey organic protein"},
			{"Bars", "Protein Bar", "プロテインバー", 20, "protein chocolate vegan peanut keto"},
		}},
		{"Pantry", []leafSpec{
			{"Pasta", "Pasta", "意大利面", 5, "organic wholegrain italian spaghetti durum"},
			{"Olive Oil", "Olive Oil", "橄榄油", 15, "virgin organic imported tuscan greek"},
			{"Rice", "Rice", "お米", 20, "jasmine organic premium brown sushi"},
		}},
	}},
}

// brands are invented names, each with the top-level categories it sells in.
var brands = []struct{ name, tops string }{
	{"Trailvex", "Sports Fashion"},
	{"Kestrix", "Sports"},
	{"Ridgeloom", "Sports Fashion"},
	{"Stridewick", "Sports"},
	{"Velocine", "Sports Electronics"},
	{"Summitra", "Sports Fashion Electronics"},
	{"Hikeforge", "Sports"},
	{"Pedalux", "Sports"},
	{"Hearthwick", "Home Grocery"},
	{"Kettlora", "Home"},
	{"Nestory", "Home Baby"},
	{"Brambleware", "Home"},
	{"Loomhaven", "Home Fashion"},
	{"Copperlane", "Home"},
	{"Dwellix", "Home Electronics Baby"},
	{"Tidycove", "Home"},
	{"Voltaro", "Electronics Home"},
	{"Quarkwell", "Electronics"},
	{"Pixelmere", "Electronics Sports"},
	{"Sonivane", "Electronics"},
	{"Circuvia", "Electronics"},
	{"Lumetric", "Electronics Home"},
	{"Zentrove", "Electronics"},
	{"Wavrix", "Electronics"},
	{"Inkwellow", "Books"},
	{"Pagebright", "Books Baby"},
	{"Folioak", "Books"},
	{"Quillhaven", "Books"},
	{"Storyvane", "Books Baby"},
	{"Vellumark", "Books"},
	{"Glowmera", "Beauty Baby"},
	{"Petalix", "Beauty Fashion"},
	{"Lustrava", "Beauty"},
	{"Dewbloom", "Beauty"},
	{"Silkora", "Beauty Fashion"},
	{"Auravie", "Beauty"},
	{"Snugglo", "Baby Home"},
	{"Tinyfern", "Baby"},
	{"Babbleberry", "Baby Grocery"},
	{"Pebblebun", "Baby"},
	{"Lullavine", "Baby Home"},
	{"Threadora", "Fashion"},
	{"Velvique", "Fashion Beauty"},
	{"Corduvo", "Fashion"},
	{"Denimora", "Fashion"},
	{"Seamstra", "Fashion"},
	{"Knotwell", "Fashion Sports"},
	{"Harvestry", "Grocery Baby"},
	{"Grainlea", "Grocery"},
	{"Orchardly", "Grocery"},
	{"Pantryfold", "Grocery"},
	{"Brewmont", "Grocery Home"},
	{"Crunchwell", "Grocery"},
	{"Presslea", "Grocery"},
	{"Everloop", "Home Fashion Beauty"},
	{"Fjordix", "Sports Fashion Home"},
	{"Lampwise", "Electronics Books"},
	{"Saltgrove", "Grocery Beauty"},
	{"Cindermoss", "Home Sports"},
	{"Wickerloft", "Home Baby"},
}

// Adjectives for CJK titles, by script of the leaf noun.
var (
	zhAdjectives = []string{"新款", "经典", "优质", "热销", "高端", "轻便"}
	jaAdjectives = []string{"人気の", "新作", "定番", "高品質", "おしゃれな"}
)
